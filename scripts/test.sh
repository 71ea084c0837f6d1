#!/usr/bin/env bash
# `make test`: prepare services (and Chromium for page tests), then run the whole pytest suite
# against real PostgreSQL and Redis. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_BROWSER=1 bash scripts/setup.sh
export DJANGO_SETTINGS_MODULE=loymax.settings DJANGO_ALLOW_ASYNC_UNSAFE=true
# Tests use their own Redis database, so a worker of `make run` never takes a test's task.
export REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}
exec .venv/bin/python -m pytest --create-db "$@"
