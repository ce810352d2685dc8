#!/usr/bin/env bash
# Dashboard responsiveness on a 1,000,000-run study served from the local
# PostgreSQL (issue 7's performance bar: a page's first load under 1 s, an
# interaction under 200 ms). Loads the study with the ingestion bench's driver
# (bench/src/ingest.rs: register a random design of N runs, push N results),
# runs the ETL once, then times every API request behind the studies page,
# the study page and the results explorer (bench/src/dashboard.rs) — the
# medians and the slowest of 7 calls each.
#
#   bash bench/dashboard.sh                 # N=1000000
#   N=100000 bash bench/dashboard.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
PG=${PG:-${SIMFORGE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}}
cargo build --release -q -p simforge -p simforge-bench
TARGET=${CARGO_TARGET_DIR:-target}/release
mkdir -p "${CARGO_TARGET_DIR:-target}"
work=$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" dash.XXXXXX)
schema="bench_dashboard_$$"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export SIMFORGE_CONFIG="$work/no-client-config.yaml"
export SIMFORGE_SERVER__PROFILE=prod
export SIMFORGE_SERVER__DATASETS__SIGNING_KEY="bench-only-signing-key-of-at-least-32-bytes"
export SIMFORGE_SERVER__LISTEN="127.0.0.1:$port"
export SIMFORGE_SERVER__DATABASE__URL="$PG"
export SIMFORGE_SERVER__DATABASE__SCHEMA="$schema"
export SIMFORGE_SERVER__STORAGE__PATH="$work/data"
export SIMFORGE_SERVER__LIMITS__RATE_PER_MINUTE=0
export SIMFORGE_SERVER__LIMITS__REQUEST_TIMEOUT_S=600
export SIMFORGE_SERVER__ETL__ENABLED=false
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

"$TARGET/simforge" serve --log-format json 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 1 300); do
    "$TARGET/simforge" ping "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done
"$TARGET/simforge" admin create-user bench </dev/null >/dev/null
"$TARGET/simforge" admin create-project bench >/dev/null
"$TARGET/simforge" admin add-member bench bench member >/dev/null
token=$("$TARGET/simforge" admin token bench --scope submit)

echo "loading a study of $N runs (the ingestion bench's driver)"
"$TARGET/ingest-bench" --server "http://127.0.0.1:$port" --token "$token" --project bench \
    --pid "$server_pid" --work "$work" --records "$N" --batch 5000 --uploaders 2 \
    | grep -E '^(register_plan_s|upload_s|server_succeeded)=' || true
psql -q "$PG" -c "VACUUM ANALYZE $schema.runs" >/dev/null
echo
echo "$N runs, release build, local PostgreSQL, median and slowest of 7 calls after a warm-up:"
echo
"$TARGET/dashboard-bench" --server "http://127.0.0.1:$port" --token "$token" --project bench --study million
echo
grep -E '^Vm(HWM|RSS)' "/proc/$server_pid/status" | tr -s ' \t' ' ' | sed 's/^/server /'

