#!/usr/bin/env bash
# What CI can check of the containers without a Docker engine:
#   - docker/compose.yml is valid (Debian's docker-compose), with each profile;
#   - the Dockerfile and compose file agree with the code
#     (tests/tests/service/containers.rs: binary name, port, environment variables);
#   - the release binary's `healthcheck` subcommand, the image's HEALTHCHECK,
#     says healthy for a running server and unhealthy for a stopped one.
set -euo pipefail
cd "$(dirname "$0")/.."

if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi
"${compose[@]}" -f docker/compose.yml config -q
"${compose[@]}" -f docker/compose.yml --profile mail --profile test config -q
"${compose[@]}" -f docker/compose.yml --profile observability config -q
echo "docker: compose file valid"

cargo test --quiet --workspace --test service containers::

cargo build --quiet --release -p server --bin orders-server
binary=target/release/orders-server
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
data=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$data"' EXIT
BIND_ADDR=0.0.0.0:$port DATABASE_URL=sqlite://$data/orders.db RUST_LOG=warn "$binary" &
server=$!
for _ in $(seq 1 100); do BIND_ADDR=0.0.0.0:$port "$binary" healthcheck 2>/dev/null && break; sleep 0.1; done
BIND_ADDR=0.0.0.0:$port "$binary" healthcheck
echo "docker: healthcheck says healthy for a running server"
kill -TERM "$server"; wait "$server" || true
if BIND_ADDR=0.0.0.0:$port "$binary" healthcheck 2>/dev/null; then
    echo "docker: healthcheck said healthy for a stopped server" >&2; exit 1
fi
echo "docker: healthcheck says unhealthy for a stopped server"
