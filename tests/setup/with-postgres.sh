#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL naming a PostgreSQL server:
#   - TEST_DATABASE_URL set: used as it is (the suite fails with instructions
#     if it does not answer);
#   - else a server answering on 127.0.0.1:5432 (trust auth for `postgres`;
#     TEST_POSTGRES_PROBE_PORT names another port, for the harness's own test);
#   - else a throwaway cluster of our own: initdb under target/test-postgres,
#     a free port, stopped and removed when the command ends, however it ends.
# SKIP_POSTGRES=1 runs the command without any of this.
#
#   tests/setup/with-postgres.sh cargo test --workspace
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)

if [ "${SKIP_POSTGRES:-}" = 1 ] || [ -n "${TEST_DATABASE_URL:-}" ]; then
    exec "$@"
fi

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

probe=${TEST_POSTGRES_PROBE_PORT:-5432}
if answers "$probe"; then
    export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$probe/postgres
    exec "$@"
fi

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bin/initdb" ] || { echo "with-postgres: no PostgreSQL server binaries; run tests/setup/prerequisites.sh postgres" >&2; exit 1; }
clusters=$root/target/test-postgres
mkdir -p "$clusters"

# PostgreSQL refuses to run as root: as root, its tools run as `postgres`.
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
stop_cluster() {
    as_owner "$bin/pg_ctl" -D "$1/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$1"
}

# Clusters of runs that were killed before they could clean up (a killed
# run can linger as a zombie, which `kill -0` still finds).
running() { [ -r "/proc/$1/stat" ] && [ "$(cut -d ' ' -f 3 "/proc/$1/stat")" != Z ]; }
for dir in "$clusters"/*/; do
    [ -f "$dir/owner.pid" ] || continue
    running "$(cat "$dir/owner.pid")" || stop_cluster "${dir%/}"
done

dir=$clusters/$$
rm -rf "$dir"
mkdir -p "$dir"
echo $$ > "$dir/owner.pid"
trap 'stop_cluster "$dir"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    if ! runuser -u postgres -- test -w "$dir"; then
        echo "with-postgres: user postgres cannot reach $dir; let it (chmod o+x on the folders above) or set TEST_DATABASE_URL" >&2
        exit 1
    fi
fi

as_owner "$bin/initdb" -D "$dir/data" -A trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }

# A port no one answers on; if another process takes it first, start fails
# and the next one is tried.
started=
for _ in 1 2 3 4 5; do
    port=$((20000 + RANDOM % 40000))
    answers "$port" && continue
    # TCP only (a socket path under a deep checkout can pass the 107-byte
    # limit); durability is not what a test database is for.
    options="-p $port -c listen_addresses=127.0.0.1 -c unix_socket_directories= -c max_connections=300 \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if as_owner "$bin/pg_ctl" -D "$dir/data" -o "$options" -l "$dir/server.log" -w -t 60 start >/dev/null; then
        started=1
        break
    fi
done
[ -n "$started" ] || { echo "with-postgres: the throwaway PostgreSQL did not start:" >&2; cat "$dir/server.log" >&2; exit 1; }

echo "with-postgres: nothing on 127.0.0.1:$probe, so a throwaway PostgreSQL runs on port $port for this run"
export TEST_DATABASE_URL=postgres://postgres@127.0.0.1:$port/postgres
status=0
"$@" || status=$?
exit "$status"
