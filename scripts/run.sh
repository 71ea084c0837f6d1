#!/usr/bin/env bash
# `make run`: prepare, migrate, load demo data (idempotent) and serve web + worker + beat.
# Ctrl-C stops all three; the data stays in PostgreSQL for the next run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
PY=.venv/bin/python
export DJANGO_SETTINGS_MODULE=loymax.settings
PORT=${PORT:-8000}
$PY manage.py migrate --noinput
$PY manage.py collectstatic --noinput -v 0
$PY manage.py load_demo
cat <<MSG

  Loyalty platform is starting on http://127.0.0.1:$PORT
    Admin:        http://127.0.0.1:$PORT/admin/     (admin / ${DEMO_PASSWORD:-demo-pass-123}; also marketer, agent)
    API docs:     http://127.0.0.1:$PORT/api/docs/
    Health page:  http://127.0.0.1:$PORT/health    (green once worker and beat are up, ~30 s)
  Ctrl-C stops the web server, the worker and beat.

MSG
export PORT
exec .venv/bin/honcho -f Procfile start
