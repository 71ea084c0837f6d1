#!/usr/bin/env bash
# Prepares everything `make run` and `make test` need, idempotently, from a machine that has only
# Python 3.11 and the package registries:
#   1. a virtualenv in .venv with the locked dependencies (constraints.txt);
#   2. PostgreSQL and Redis: those named by DATABASE_URL / REDIS_URL when set, otherwise local
#      servers, installed from Debian's packages when absent and started when stopped.
# Servers that already run are left alone.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*"; }
die() { printf '\033[1;31m[setup] %s\033[0m\n' "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null || die "need $* but apt-get is not available: install them by hand or set DATABASE_URL/REDIS_URL"
  if [ "$APT_UPDATED" = 0 ]; then $SUDO apt-get update -qq; APT_UPDATED=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

# --- 1. Python environment -------------------------------------------------------------------
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
"$PYTHON" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || die "Python 3.11 is required (found $("$PYTHON" --version 2>&1))"
if [ ! -x .venv/bin/python ]; then
  log "creating virtualenv .venv"
  "$PYTHON" -m venv .venv || { apt_install python3-venv; "$PYTHON" -m venv .venv; }
fi
STAMP=.venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -f "$STAMP" ]; then
  log "installing dependencies (locked in constraints.txt)"
  .venv/bin/python -m pip install -q --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -m pip install -q -c constraints.txt -e ".[dev]" 2>&1 | grep -v '^WARNING: Location' || true
  .venv/bin/python -c 'import django, rest_framework, celery, psycopg' || die "dependency install failed"
  rm -f .venv/.installed-*; touch "$STAMP"
fi

# --- 2. PostgreSQL ----------------------------------------------------------------------------
DB_URL_DEFAULT="postgres://loymax:loymax@127.0.0.1:5432/loymax"
if [ -n "${DATABASE_URL:-}" ] && [ "${DATABASE_URL}" != "$DB_URL_DEFAULT" ]; then
  log "using DATABASE_URL from the environment"
  for _ in $(seq 1 30); do
    .venv/bin/python - <<'PY' && break || sleep 1
import os, psycopg
psycopg.connect(os.environ["DATABASE_URL"].replace("postgres://", "postgresql://", 1), connect_timeout=2).close()
PY
  done
else
  if ! command -v pg_lsclusters >/dev/null; then
    log "installing PostgreSQL from Debian's packages"
    apt_install postgresql postgresql-contrib
  fi
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    CLUSTER=$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')
    if [ -z "$CLUSTER" ]; then
      VER=$(ls /usr/lib/postgresql | sort -V | tail -1)
      log "creating PostgreSQL $VER cluster"
      $SUDO pg_createcluster "$VER" main >/dev/null
      CLUSTER="$VER main"
    fi
    log "starting PostgreSQL cluster $CLUSTER"
    $SUDO pg_ctlcluster --skip-systemctl-redirect $CLUSTER start || true
    for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
    pg_isready -q -h 127.0.0.1 -p 5432 || die "PostgreSQL did not start"
  fi
  as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
  }
  PSQL="psql -X -q -v ON_ERROR_STOP=1 -d postgres"
  if ! as_postgres $PSQL -tAc "select 1 from pg_roles where rolname='loymax'" | grep -q 1; then
    log "creating database role loymax"
    as_postgres $PSQL -c "create role loymax login createdb password 'loymax'"
  fi
  if ! as_postgres $PSQL -tAc "select 1 from pg_database where datname='loymax'" | grep -q 1; then
    log "creating database loymax"
    as_postgres $PSQL -c "create database loymax owner loymax"
  fi
fi

# --- 3. Redis ---------------------------------------------------------------------------------
if [ -n "${REDIS_URL:-}" ] && [ "${REDIS_URL}" != "redis://127.0.0.1:6379/0" ]; then
  log "using REDIS_URL from the environment"
else
  if ! command -v redis-server >/dev/null; then
    log "installing Redis from Debian's packages"
    apt_install redis-server
  fi
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp --logfile /tmp/loymax-redis.log
    for _ in $(seq 1 20); do redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break; sleep 0.25; done
  fi
  redis-cli -h 127.0.0.1 ping >/dev/null || die "Redis did not start"
fi

# --- 4. Browser for the page tests (only when asked) ------------------------------------------
if [ "${WITH_BROWSER:-0}" = 1 ] && [ ! -x /usr/bin/chromium ]; then
  log "installing Chromium from Debian's packages (for browser tests)"
  apt_install chromium
fi
log "ready"
