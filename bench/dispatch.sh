#!/usr/bin/env bash
# Dispatch throughput of server mode: runs/s pulled and reported by W
# `simforge worker --slots 1` processes (default 4) on no-op runs, beside
# HyperQueue (the peer: PyPI `hyperqueue`, its server and W one-core workers
# in-process) on the same machine in the same run. Two simforge cases:
#   - builtin: N runs of the `analytic` builtin (no process per run);
#   - command: N runs of the program `true` (one process per run, as HQ).
# The local pool (`simforge run --jobs W`) is shown for scale. The server
# cases are timed from submission to the study's `finished` (polled every
# 50 ms over the API). Needs PostgreSQL (SIMFORGE_TEST_POSTGRES_URL, default
# postgres://postgres@127.0.0.1:5432/test); uses and drops a fresh schema.
#
#   bash bench/dispatch.sh            # N=5000 WORKERS=4
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
WORKERS=${WORKERS:-4}
PG=${SIMFORGE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
TARGET=${CARGO_TARGET_DIR:-target}
if [ -z "${SIMFORGE_BIN:-}" ]; then
  cargo build --release -q -p simforge
  SIMFORGE_BIN=$TARGET/release/simforge
fi
BIN=$(realpath "$SIMFORGE_BIN")
mkdir -p "$TARGET"
work=$(mktemp -d -p "$TARGET" dispatch.XXXXXX)
schema="bench_dispatch_$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
export SIMFORGE_SERVER__DATABASE__URL="$PG" SIMFORGE_SERVER__DATABASE__SCHEMA="$schema" \
  SIMFORGE_SERVER__LISTEN="127.0.0.1:$port" SIMFORGE_SERVER__STORAGE__PATH="$work/data" \
  SIMFORGE_SERVER__LIMITS__RATE_PER_MINUTE=0
unset SIMFORGE_SERVER SIMFORGE_TOKEN SIMFORGE_TOKEN_FILE SIMFORGE_PROFILE

# The peer, installed from PyPI into a virtual environment once.
hq_venv="$TARGET/hq-venv"
[ -x "$hq_venv/bin/python" ] && "$hq_venv/bin/python" -c 'import hyperqueue' 2>/dev/null || {
  python3 -m venv "$hq_venv"
  "$hq_venv/bin/pip" install --quiet --disable-pip-version-check hyperqueue
}
hq_version=$("$hq_venv/bin/pip" show hyperqueue 2>/dev/null | awk '/^Version/{print $2}')

study() { # name, simulator line
  cat > "$work/$1.yaml" <<YAML
name: $1
simulator: $2
parameters: {x1: {range: [-5, 10]}, x2: {range: [0, 15]}}
design: {sampler: random, samples: $N, seed: 1}
YAML
}
study builtin '{builtin: analytic, options: {function: branin}}'
study command '{command: ["true"]}'

"$BIN" serve 2>"$work/serve.log" & pids+=($!)
for _ in $(seq 100); do "$BIN" ping "$url/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
A="$BIN admin"
$A create-user bench --admin >/dev/null
$A create-project bench >/dev/null
$A add-member bench bench admin >/dev/null
token=$($A token bench --scope admin 2>/dev/null)
$A token bench --scope worker --output "$work/worker.token" 2>/dev/null

# server_case NAME QUEUE: workers first (they wait), then the clock runs from
# submission to the last result.
server_case() {
  local wp=()
  for i in $(seq "$WORKERS"); do
    "$BIN" worker --server "$url" --queue "$2" --slots 1 --name "$1-w$i" \
      --token-file "$work/worker.token" --workdir "$work/$1-w$i" >/dev/null 2>&1 & wp+=($!)
  done
  sleep 1
  local start end
  start=$(date +%s.%N)
  curl -fsS -o /dev/null -H "Authorization: Bearer $token" -H 'Content-Type: application/yaml' \
    --data-binary "@$work/$1.yaml" "$url/api/v1/projects/bench/studies"
  until curl -fsS -H "Authorization: Bearer $token" "$url/api/v1/projects/bench/studies/$1" \
      | grep -q '"finished":true'; do
    sleep 0.05
  done
  end=$(date +%s.%N)
  kill "${wp[@]}" 2>/dev/null || true
  wait "${wp[@]}" 2>/dev/null || true
  echo "$end - $start" | bc -l
}
local_case() {
  local start end
  start=$(date +%s.%N)
  "$BIN" run "$work/$1.yaml" --store "$work/local-$1" --jobs "$WORKERS" --no-report --progress none >/dev/null
  end=$(date +%s.%N)
  echo "$end - $start" | bc -l
}

server_builtin=$(server_case builtin analytic)
server_command=$(server_case command 'command:true')
hq=$(cd "$work" && "$hq_venv/bin/python" "$OLDPWD/bench/hq_dispatch.py" "$N" "$WORKERS" 2>/dev/null | sed -n 's/^hq_seconds=//p')
local_builtin=$(local_case builtin)
local_command=$(local_case command)

row() { printf '| %s | %.2f | %.0f | %s |\n' "$1" "$2" "$(echo "$N / $2" | bc -l)" "$3"; }
ratio() { printf '%.2fx' "$(echo "$hq / $1" | bc -l)"; }
printf '%s runs, %s workers x 1 slot, HyperQueue %s\n\n' "$N" "$WORKERS" "$hq_version"
printf '| path | seconds | runs/s | vs HyperQueue (runs/s ratio) |\n|---|---:|---:|---:|\n'
row "HyperQueue: $WORKERS workers x 1 core, program \`true\`" "$hq" "1.00x"
row "simforge server: $WORKERS \`simforge worker\`, program \`true\`" "$server_command" "$(ratio "$server_command")"
row "simforge server: $WORKERS \`simforge worker\`, builtin no-op" "$server_builtin" "$(ratio "$server_builtin")"
row "simforge local pool (\`run --jobs $WORKERS\`), program \`true\`" "$local_command" "$(ratio "$local_command")"
row "simforge local pool (\`run --jobs $WORKERS\`), builtin no-op" "$local_builtin" "$(ratio "$local_builtin")"
