#!/usr/bin/env bash
# Ingestion at scale (issue: ingestion from many machines): 1,000,000 finished
# results uploaded to `simforge serve` on the local PostgreSQL through `simforge
# push`'s client code (batches of 5,000, idempotency keys, on-disk spool), while
# a tiny study is submitted every 100 ms to time single submissions under that
# load, and the server's peak memory is read from /proc. The floor beside it:
# a plain `COPY` of the same rows into a table with a primary key via psql.
#
#   bash bench/ingest.sh                       # N=1000000 UPLOADERS=2 BATCH=5000
#   PG=postgres://postgres@127.0.0.1:5432/test N=200000 bash bench/ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-1000000}
BATCH=${BATCH:-5000}
UPLOADERS=${UPLOADERS:-2}
source bench/lib/serve.sh
bench_setup ingest
bench_start_server
bench_bootstrap

echo "ingesting $N results: batches of $BATCH, $UPLOADERS uploaders, server pid $server_pid"
"$TARGET/ingest-bench" --server "http://127.0.0.1:$port" --token "$token" --project bench \
    --pid "$server_pid" --work "$work" --records "$N" --batch "$BATCH" --uploaders "$UPLOADERS" \
    --csv "$work/rows.csv" | tee "$work/driver.out"

echo "floor: COPY of the same $N rows into a table with a primary key (psql)"
psql -q "$PG" -c "CREATE SCHEMA ${schema}_floor; CREATE TABLE ${schema}_floor.results (
    id TEXT PRIMARY KEY, idx BIGINT NOT NULL, replicate BIGINT NOT NULL, seed BIGINT NOT NULL,
    params JSONB NOT NULL, state TEXT NOT NULL, attempts BIGINT NOT NULL, metrics JSONB,
    started_at TEXT, finished_at TEXT, duration_s DOUBLE PRECISION, host TEXT, spec_hash TEXT NOT NULL)"
start=$(date +%s.%N)
psql -q "$PG" -c "\\copy ${schema}_floor.results FROM '$work/rows.csv' WITH (FORMAT csv)"
end=$(date +%s.%N)
python3 - "$start" "$end" "$N" "$work/driver.out" <<'PY'
import sys
start, end, n, path = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
kv = {}
for line in open(path):
    for part in line.split():
        if "=" in part:
            k, v = part.split("=", 1)
            kv[k] = v
copy_s = end - start
copy_rate = n / copy_s
ours = float(kv["results_per_s"])
print(f"copy_s={copy_s:.2f} copy_rows_per_s={copy_rate:.0f}")
print(f"simforge_over_copy={ours / copy_rate:.2f}")
PY
