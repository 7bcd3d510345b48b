#!/usr/bin/env bash
# Install what the tests need (PostgreSQL, Redis, Chromium, Node; the Python package with its test and
# train extras), start the services if they are down, and run every test: front-end unit tests first,
# then pytest (unit, PostgreSQL + Redis + Celery integration, SQLite/embedded-broker path, real browser).
# Fails loudly, never skips, when a service cannot be reached.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3

step() { printf '\n== %s ==\n' "$*"; }

step "system packages"
need=()
command -v pg_ctlcluster >/dev/null || need+=(postgresql)
command -v redis-server >/dev/null || need+=(redis-server)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v npm >/dev/null || need+=(nodejs npm)
# Japanese UI screenshots need a CJK font, or every kanji renders as an empty box.
dpkg -s fonts-noto-cjk >/dev/null 2>&1 || need+=(fonts-noto-cjk)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

step "services"
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  echo "starting PostgreSQL"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis"
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
for _ in $(seq 1 30); do
  pg_isready -h 127.0.0.1 -p 5432 -q && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && break
  sleep 1
done
pg_isready -h 127.0.0.1 -p 5432 || { echo "FATAL: PostgreSQL is not reachable on 127.0.0.1:5432" >&2; exit 1; }
[ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ] \
  || { echo "FATAL: Redis is not reachable on 127.0.0.1:6379" >&2; exit 1; }
export GLOMCHECK_TEST_PG=${GLOMCHECK_TEST_PG:-postgresql://postgres@127.0.0.1:5432/postgres}
if ! psql "$GLOMCHECK_TEST_PG" -qAtc 'select 1' >/dev/null 2>&1; then
  # A fresh Debian cluster wants a password over TCP: give the postgres role one for the tests.
  $SUDO -u postgres psql -qc "ALTER USER postgres PASSWORD 'postgres'" >/dev/null
  export GLOMCHECK_TEST_PG=postgresql://postgres:postgres@127.0.0.1:5432/postgres
fi
psql "$GLOMCHECK_TEST_PG" -qAtc 'select 1' >/dev/null \
  || { echo "FATAL: cannot log in to PostgreSQL as postgres on 127.0.0.1" >&2; exit 1; }
export GLOMCHECK_TEST_REDIS=redis://127.0.0.1:6379

step "python environment"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e '.[test,train]' 2>&1 | grep -vE '^(WARNING: Location|DEPRECATION)' || true
.venv/bin/python -c "import app, worker, onnxruntime, openslide, torch" \
  || { echo "FATAL: the Python environment is incomplete" >&2; exit 1; }

step "front end"
if [ -f frontend/package.json ]; then
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build && npm test)
fi

step "pytest"
export GLOMCHECK_CHROMIUM=/usr/bin/chromium
mkdir -p test-artifacts
exec .venv/bin/python -m pytest -q -p no:cacheprovider --junitxml=test-artifacts/junit.xml "$@"
