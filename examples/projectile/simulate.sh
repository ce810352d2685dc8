#!/bin/sh
# A small external simulator: range and flight time of a projectile with linear
# drag, integrated with explicit Euler steps in awk. It reads its inputs from
# input.cfg (rendered by simforge from input.cfg.j2) and writes metrics.json.
set -eu
awk -F= '
  { v[$1] = $2 }
  END {
    g = 9.81; pi = atan2(0, -1)
    vx = v["speed"] * cos(v["angle"] * pi / 180); vy = v["speed"] * sin(v["angle"] * pi / 180)
    x = 0; y = 0; t = 0; dt = 0.001; k = v["drag"]
    while (y >= 0 && t < 1000) {
      vx -= k * vx * dt; vy -= (g + k * vy) * dt
      x += vx * dt; y += vy * dt; t += dt
    }
    printf "{\"range\": %.6f, \"flight_time\": %.6f}\n", x, t > "metrics.json"
    printf "range=%.3f m after %.3f s\n", x, t
  }' input.cfg
