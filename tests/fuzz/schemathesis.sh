#!/usr/bin/env bash
# Schema-driven fuzzing: schemathesis generates requests from the running
# server's own /openapi.json and checks every answer — no 5xx, every status
# documented for its operation, every body matching its schema, and every
# operation that declares the bearer scheme refusing a request without a
# key (ignored_auth). Requests carry a key with every scope. Runs once on
# SQLite and once on a fresh PostgreSQL database.
#
#   tests/fuzz/schemathesis.sh            # both backends, FUZZ_EXAMPLES (300) per operation
#   FUZZ_BACKENDS=sqlite tests/fuzz/schemathesis.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES=${FUZZ_EXAMPLES:-300}
BACKENDS=${FUZZ_BACKENDS:-sqlite postgres}
ADMIN_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
VENV=target/venv
OUT=target/fuzz

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "schemathesis==$SCHEMATHESIS_VERSION"
fi
cargo build --quiet --workspace --bins
mkdir -p "$OUT"

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

fuzz() {
    local backend=$1 database_url=$2
    local port server status=0
    port=$(free_port)
    # Every scope, so each operation is exercised past its key check.
    key=$(DATABASE_URL=$database_url target/debug/orders-server keys create --name fuzz \
        --scope orders:read --scope orders:write --scope admin 2>/dev/null)
    DATABASE_URL=$database_url BIND_ADDR=127.0.0.1:$port RUST_LOG=warn LOG_FORMAT=json \
        target/debug/orders-server > "$OUT/server-$backend.log" 2>&1 &
    server=$!
    echo "fuzz: $backend on port $port, $EXAMPLES examples per operation"
    "$VENV/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
        --wait-for-schema 30 \
        --checks not_a_server_error,status_code_conformance,response_schema_conformance,ignored_auth \
        --header "Authorization: Bearer $key" \
        --max-examples "$EXAMPLES" \
        --no-color \
        --report junit --report-junit-path "$OUT/junit-$backend.xml" \
        > "$OUT/schemathesis-$backend.txt" 2>&1 || status=$?
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    grep -E "generated" "$OUT/schemathesis-$backend.txt" | tail -n 1 || true
    if [ "$status" -ne 0 ]; then
        cat "$OUT/schemathesis-$backend.txt"
        echo "fuzz: schemathesis found problems on $backend (report: $OUT/)" >&2
        return "$status"
    fi
}

for backend in $BACKENDS; do
    case $backend in
        sqlite)
            rm -f "$OUT/fuzz.db" "$OUT/fuzz.db-wal" "$OUT/fuzz.db-shm"
            fuzz sqlite "sqlite://$OUT/fuzz.db"
            ;;
        postgres)
            name="orders_fuzz_$$"
            psql "$ADMIN_URL" -qc "CREATE DATABASE $name"
            trap 'psql "$ADMIN_URL" -qc "DROP DATABASE IF EXISTS $name WITH (FORCE)"' EXIT
            fuzz postgres "${ADMIN_URL%/*}/$name"
            ;;
        *) echo "fuzz: unknown backend $backend" >&2; exit 2 ;;
    esac
done
