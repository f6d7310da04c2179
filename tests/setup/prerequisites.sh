#!/usr/bin/env bash
# Installs what the suite needs beyond the Rust toolchain, once: every check
# is a file test, so a machine that has everything pays milliseconds.
#
#   tests/setup/prerequisites.sh postgres browser python compose
#
#   postgres  PostgreSQL's server binaries and psql (the suite's throwaway
#             cluster, the outage tests, make fuzz)
#   browser   Chromium, Node.js and tests/browser's playwright-core
#   python    python3 with venv (make fuzz's schemathesis, docker/check.sh)
#   compose   docker-compose, to validate docker/compose.yml
#
# Installs with apt-get where it can (root on Debian); elsewhere it stops at
# once with one line naming what to install.
set -euo pipefail
cd "$(dirname "$0")/../.."

missing=()

have_postgres() {
    compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null && command -v psql >/dev/null
}
have_python() { command -v python3 >/dev/null && python3 -c 'import ensurepip, venv' 2>/dev/null; }
have_compose() { command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1; }

for need in "$@"; do
    case $need in
        postgres) have_postgres || missing+=(postgresql) ;;
        browser)
            [ -x /usr/bin/chromium ] || missing+=(chromium)
            command -v node >/dev/null || missing+=(nodejs)
            command -v npm >/dev/null || missing+=(npm)
            ;;
        python) have_python || missing+=(python3 python3-venv) ;;
        compose) have_compose || missing+=(docker-compose) ;;
        *) echo "prerequisites: unknown need '$need'" >&2; exit 2 ;;
    esac
done

if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
        echo "make test needs: ${missing[*]} (Debian packages; install them, or set SKIP_POSTGRES=1 / SKIP_BROWSER=1 to skip those checks)" >&2
        exit 1
    fi
    echo "prerequisites: installing ${missing[*]} with apt-get"
    install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null; }
    # A fresh machine has no package lists yet: update only when needed.
    install 2>/dev/null || { apt-get update -q >/dev/null && install; }
fi

# playwright-core, pinned by tests/browser/package-lock.json; npm keeps its
# own copy of the lock in node_modules, which is older after a lock change.
if [[ " $* " == *" browser "* ]]; then
    lock=tests/browser/package-lock.json installed=tests/browser/node_modules/.package-lock.json
    if ! [ -d tests/browser/node_modules/playwright-core ] || [ "$lock" -nt "$installed" ]; then
        echo "prerequisites: installing playwright-core into tests/browser"
        npm ci --prefix tests/browser --no-audit --no-fund --loglevel=error >/dev/null
    fi
fi
