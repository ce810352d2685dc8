#!/usr/bin/env bash
# Dashboard responsiveness on a 1,000,000-run study served from the local
# PostgreSQL (issue 7's performance bar: a page's first load under 1 s, an
# interaction under 200 ms). Loads the study with the ingestion bench's driver
# (bench/src/ingest.rs: register a random design of N runs, push N results),
# restarts the server (so nothing is in memory), then times the explorer
# opened by a direct link (its whole load) and every API request behind the
# studies page, the study page and the results explorer
# (bench/src/dashboard.rs) — the medians and the slowest of 7 calls each.
#
#   bash bench/dashboard.sh                 # N=1000000
#   N=100000 bash bench/dashboard.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
source bench/lib/serve.sh
bench_setup dashboard
export SIMFORGE_SERVER__ETL__ENABLED=false
bench_start_server
bench_bootstrap

echo "loading a study of $N runs (the ingestion bench's driver)"
"$TARGET/ingest-bench" --server "http://127.0.0.1:$port" --token "$token" --project bench \
    --pid "$server_pid" --work "$work" --records "$N" --batch 5000 --uploaders 2 \
    | grep -E '^(register_plan_s|upload_s|server_succeeded)=' || true
psql -q "$PG" -c "VACUUM ANALYZE $schema.runs" >/dev/null
# A fresh server: nothing of the study is in memory (loading it polled the
# study page, which warms the explorer's copy).
bench_stop_server
bench_start_server
echo
echo "$N runs, release build, local PostgreSQL, median and slowest of 7 calls after a warm-up:"
echo
"$TARGET/dashboard-bench" --server "http://127.0.0.1:$port" --token "$token" --project bench --study million
echo
grep -E '^Vm(HWM|RSS)' "/proc/$server_pid/status" | tr -s ' \t' ' ' | sed 's/^/server /'
