#!/usr/bin/env bash
# The sysdesign discrete-event engine beside SimPy on the same models,
# measured in the same run: M/M/3 at ρ = 0.9 and a tandem of three M/M/1
# stations at ρ = 0.8. Both simulate the same number of customers; the table
# gives customers and events per wall-clock second, single-threaded, and
# simforge's replications spread over every core. The mean time in system is
# printed beside the queueing-theory value, to show both simulated the same
# thing. Needs python3 with simpy (pip install simpy); PY picks the python.
#
#   N=1000000 bash bench/sysdesign.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
PY=${PY:-python3}
"$PY" -c "import simpy" 2>/dev/null || { echo "simpy is needed as the peer: pip install simpy" >&2; exit 1; }
cargo build --release -q -p simforge
BIN=$(realpath "${CARGO_TARGET_DIR:-target}")/release/simforge
mkdir -p "${CARGO_TARGET_DIR:-target}"
work=$(realpath "$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" des-bench.XXXXXX)")
trap 'rm -rf "$work"' EXIT
CORES=$(nproc)

# topology MODEL REPLICATIONS: the same model as bench/sysdesign_peer.py, in ms.
topology() {
  local model=$1 reps=$2 lam horizon
  case $model in
    mmc) lam=2.7 ;;
    tandem) lam=0.8 ;;
  esac
  horizon=$(awk -v n="$N" -v l="$lam" 'BEGIN { printf "%.0f", n / l * 1000 }')
  echo "horizon: $horizon"
  echo "warmup: 0"
  echo "replications: $reps"
  echo "components:"
  echo "  in: {type: source, arrivals: {process: poisson, rate: $lam}, to: s1}"
  case $model in
    mmc) echo "  s1: {type: service, concurrency: 3, service_time: {dist: exponential, mean: 1000}}" ;;
    tandem)
      echo "  s1: {type: service, service_time: {dist: exponential, mean: 1000}, next: s2}"
      echo "  s2: {type: service, service_time: {dist: exponential, mean: 1000}, next: s3}"
      echo "  s3: {type: service, service_time: {dist: exponential, mean: 1000}}" ;;
  esac
}

now() { date +%s.%N; }
# ours MODEL REPLICATIONS THREADS → "customers wall_s events mean_ms"
ours() {
  topology "$1" "$2" > "$work/$1.yaml"
  local t0 t1
  t0=$(now)
  "$BIN" sim sysdesign --option "topology=$work/$1.yaml" --option "threads=$3" \
    --out "$work/out-$1" --json > "$work/$1.json"
  t1=$(now)
  "$PY" - "$work/$1.json" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$N" "$2" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
wall, n, reps = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
print(round(m["throughput"] * n / m["offered_rate"]) * reps, wall, m["events"], m["latency_mean"])
PY
}

printf "%-8s %-28s %12s %14s %14s %10s %12s\n" model tool customers customers/s events/s ratio "W (s)"
for model in mmc tandem; do
  case $model in
    mmc) theory=$(awk 'BEGIN { a = 2.7; c = 3; rho = a / c;
           s = 0; f = 1; for (k = 0; k < c; k++) { if (k > 0) f *= k; s += a^k / f }
           f *= c; last = a^c / f / (1 - rho); C = last / (s + last);
           print C / (c * 1 - 2.7) + 1 }') ;;
    tandem) theory=$(awk 'BEGIN { print 3 * 1 / (1 - 0.8) }') ;;
  esac
  peer=$("$PY" bench/sysdesign_peer.py "$model" "$N")
  read -r p_n p_wall p_epc p_w < <("$PY" -c "import json,sys; d=json.loads(sys.argv[1]); print(d['customers'], d['wall_s'], d['events_per_customer'], d['mean_time_in_system_s'])" "$peer")
  read -r o_n o_wall o_events o_w < <(ours "$model" 1 1)
  read -r q_n q_wall q_events q_w < <(ours "$model" "$CORES" "$CORES")
  awk -v m="$model" -v pn="$p_n" -v pw="$p_wall" -v pe="$p_epc" -v pW="$p_w" \
      -v on="$o_n" -v ow="$o_wall" -v oe="$o_events" -v oW="$o_w" \
      -v qn="$q_n" -v qw="$q_wall" -v qe="$q_events" -v qW="$q_w" -v th="$theory" -v cores="$CORES" 'BEGIN {
    peer = pn / pw
    printf "%-8s %-28s %12d %14.0f %14.0f %10s %12.4f\n", m, "SimPy 4 (1 thread)", pn, peer, pn * pe / pw, "1.0x", pW
    printf "%-8s %-28s %12d %14.0f %14.0f %9.1fx %12.4f\n", m, "simforge (1 thread)", on, on / ow, oe / ow, (on / ow) / peer, oW / 1000
    printf "%-8s %-28s %12d %14.0f %14.0f %9.1fx %12.4f\n", m, "simforge (" cores " replications)", qn, qn / qw, qe / qw, (qn / qw) / peer, qW / 1000
    printf "%-8s %-28s %12s %14s %14s %10s %12.4f\n", m, "queueing theory", "", "", "", "", th
  }'
done
