#!/usr/bin/env bash
# Dispatch throughput of server mode: runs/s pulled and reported by 4
# `simforge worker --slots 1` processes on no-op runs (N runs of the `analytic`
# builtin), with the local pool (`simforge run` of the same study) as the
# in-run peer. Needs PostgreSQL (SIMFORGE_TEST_POSTGRES_URL, default
# postgres://postgres@127.0.0.1:5432/test); uses and drops a fresh schema.
#
#   bash bench/dispatch.sh            # N=5000 WORKERS=4
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-5000}
WORKERS=${WORKERS:-4}
PG=${SIMFORGE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
if [ -z "${SIMFORGE_BIN:-}" ]; then
  cargo build --release -q -p simforge
  SIMFORGE_BIN=${CARGO_TARGET_DIR:-target}/release/simforge
fi
BIN=$(realpath "$SIMFORGE_BIN")
mkdir -p "${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" dispatch.XXXXXX)
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
  SIMFORGE_SERVER__LISTEN="127.0.0.1:$port" SIMFORGE_SERVER__STORAGE__PATH="$work/data"
unset SIMFORGE_SERVER SIMFORGE_TOKEN SIMFORGE_TOKEN_FILE SIMFORGE_PROFILE
cat > "$work/study.yaml" <<YAML
name: dispatch
simulator: {builtin: analytic, options: {function: branin}}
parameters: {x1: {range: [-5, 10]}, x2: {range: [0, 15]}}
design: {sampler: random, samples: $N, seed: 1}
YAML

"$BIN" serve 2>"$work/serve.log" & pids+=($!)
for _ in $(seq 100); do "$BIN" ping "$url/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
A="$BIN admin"
$A create-user bench --admin >/dev/null
$A create-project bench >/dev/null
$A add-member bench bench admin >/dev/null
token=$($A token bench --scope admin 2>/dev/null)
$A token bench --scope worker --output "$work/worker.token" 2>/dev/null

start=$(date +%s.%N)
for i in $(seq "$WORKERS"); do
  "$BIN" worker --server "$url" --queue analytic --slots 1 --name "w$i" \
    --token-file "$work/worker.token" --workdir "$work/w$i" >/dev/null 2>&1 & pids+=($!)
done
# The workers start first and wait; the clock runs from submission to the last result.
sleep 1
start=$(date +%s.%N)
SIMFORGE_TOKEN=$token "$BIN" run "$work/study.yaml" --server "$url" --project bench >/dev/null
end=$(date +%s.%N)
server_s=$(echo "$end - $start" | bc -l)

start=$(date +%s.%N)
"$BIN" run "$work/study.yaml" --store "$work/local" --jobs "$WORKERS" --no-report --progress none >/dev/null
end=$(date +%s.%N)
local_s=$(echo "$end - $start" | bc -l)

printf '| path | seconds | runs/s |\n|---|---:|---:|\n'
printf '| server: submit + %s workers x 1 slot (`simforge worker`) | %.2f | %.0f |\n' "$WORKERS" "$server_s" "$(echo "$N / $server_s" | bc -l)"
printf '| local pool: `simforge run --jobs %s` | %.2f | %.0f |\n' "$WORKERS" "$local_s" "$(echo "$N / $local_s" | bc -l)"
