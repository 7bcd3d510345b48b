#!/usr/bin/env bash
# Install glomcheck into .venv, build the web front end (when Node is present) and start the service
# with a demo institution, users and slide on the embedded defaults (SQLite + embedded broker).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e . 2>&1 | grep -vE '^(WARNING: Location|DEPRECATION)' || true
if command -v npm >/dev/null && [ -f frontend/package.json ]; then
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build)
else
  echo "npm not found: the API runs, but the browser UI needs Node 20 (apt-get install nodejs npm)" >&2
fi
exec .venv/bin/glomcheck demo "$@"
