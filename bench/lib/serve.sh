# Sourced by the server benches (bench/ingest.sh, bench/dashboard.sh): builds
# the release binaries, runs `simforge serve` (prod profile, no rate limit) on
# the local PostgreSQL in a schema of its own, and creates a `bench` user,
# project and submit token. Everything is removed on exit.
#
#   source bench/lib/serve.sh
#   bench_setup NAME          # TARGET, work, schema, port; exports the server's settings
#   bench_start_server        # (re)starts it, waits until ready; server_pid
#   bench_bootstrap           # token (a submit token of user `bench` in project `bench`)

PG=${PG:-${SIMFORGE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}}
server_pid=

bench_setup() {
    local name=$1
    cargo build --release -q -p simforge -p simforge-bench
    TARGET=${CARGO_TARGET_DIR:-target}/release
    mkdir -p "${CARGO_TARGET_DIR:-target}"
    work=$(mktemp -d -p "${CARGO_TARGET_DIR:-target}" "$name.XXXXXX")
    schema="bench_${name}_$$"
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    export SIMFORGE_CONFIG="$work/no-client-config.yaml"
    export SIMFORGE_SERVER__PROFILE=prod
    export SIMFORGE_SERVER__DATASETS__SIGNING_KEY="bench-only-signing-key-of-at-least-32-bytes"
    export SIMFORGE_SERVER__LISTEN="127.0.0.1:$port"
    export SIMFORGE_SERVER__DATABASE__URL="$PG"
    export SIMFORGE_SERVER__DATABASE__SCHEMA="$schema"
    export SIMFORGE_SERVER__STORAGE__PATH="$work/data"
    export SIMFORGE_SERVER__LIMITS__RATE_PER_MINUTE=0
    # Registering a large study plans its runs within the request.
    export SIMFORGE_SERVER__LIMITS__REQUEST_TIMEOUT_S=600
    trap bench_cleanup EXIT
}

bench_start_server() {
    "$TARGET/simforge" serve --log-format json 2>>"$work/serve.log" &
    server_pid=$!
    for _ in $(seq 1 300); do
        "$TARGET/simforge" ping "http://127.0.0.1:$port/readyz" >/dev/null 2>&1 && return
        sleep 0.1
    done
    echo "simforge serve did not get ready; its log:" >&2
    cat "$work/serve.log" >&2
    exit 1
}

bench_stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
        server_pid=
    fi
}

bench_bootstrap() {
    "$TARGET/simforge" admin create-user bench </dev/null >/dev/null
    "$TARGET/simforge" admin create-project bench >/dev/null
    "$TARGET/simforge" admin add-member bench bench member >/dev/null
    token=$("$TARGET/simforge" admin token bench --scope submit)
}

bench_cleanup() {
    bench_stop_server
    psql -q "$PG" -c "DROP SCHEMA IF EXISTS $schema CASCADE; DROP SCHEMA IF EXISTS ${schema}_floor CASCADE" >/dev/null 2>&1 || true
    rm -rf "$work"
}
