"""Settings for the loyalty platform.

Everything that differs between machines comes from the environment, with defaults that work
on a developer's machine (the ones `make run` prepares). PostgreSQL is the only database.
"""
from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from kombu import Exchange, Queue

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-insecure-secret-key-change-me" if DEBUG else "")
if not SECRET_KEY:
    raise RuntimeError("SECRET_KEY must be set when DEBUG is off")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", "http://localhost:8000,http://127.0.0.1:8000")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    # Domain apps, lowest first: an app imports only the apps above it in this list.
    "core",
    "catalogue",
    "crm",
    "attributes",
    "statuses",
    "segments",
    "offers",
    "processing",
    "communications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "loymax.urls"
WSGI_APPLICATION = "loymax.wsgi.application"
ASGI_APPLICATION = "loymax.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://loymax:loymax@127.0.0.1:5432/loymax")
# DB_CONN_HEALTH_CHECKS=0 skips the `SELECT 1` that checks a persistent connection at the start of
# each request (a round trip per request); see docs/benchmarks-processing.md, round 2.
DB_CONN_HEALTH_CHECKS = os.environ.get("DB_CONN_HEALTH_CHECKS", "1") != "0"
# Seconds a web or worker process keeps its database connection (0: one per request).
DB_CONN_MAX_AGE = int(os.environ.get("DB_CONN_MAX_AGE", "60"))
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=DB_CONN_MAX_AGE,
                                              conn_health_checks=DB_CONN_HEALTH_CHECKS)}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise RuntimeError("DATABASE_URL must point at PostgreSQL: it is the only supported database")
DATABASES["default"].setdefault("OPTIONS", {})
# Statements run through core.db.prepared_cursor() (the till's hot path) are prepared by psycopg
# after this many executions on a connection; Django's own cursors bind on the client and never
# prepare. DB_PREPARE_THRESHOLD="" turns preparing off (a pooler in transaction mode).
_prepare_threshold = os.environ.get("DB_PREPARE_THRESHOLD", "1")
DATABASES["default"]["OPTIONS"]["prepare_threshold"] = int(_prepare_threshold) if _prepare_threshold else None
DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_DATABASE_NAME") or None}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": os.environ.get("CACHE_URL", REDIS_URL),
        "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "loymax"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True  # times are UTC in the database; stores evaluate offers in their own zone

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

LOGIN_URL = "/admin/login/"

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # The first class names the scheme in 401 answers; session comes last so that an
        # unauthenticated call gets 401 (with WWW-Authenticate), not 403.
        "rest_framework.authentication.TokenAuthentication",
        "catalogue.api.authentication.TillAuthentication",
        "crm.api.authentication.CustomerTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "loymax.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "loymax.api.errors.exception_handler",
    "DEFAULT_VERSIONING_CLASS": "rest_framework.versioning.URLPathVersioning",
    "DEFAULT_VERSION": "v1",
    "ALLOWED_VERSIONS": ["v1"],
    "COERCE_DECIMAL_TO_STRING": True,
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Loyalty platform API",
    "DESCRIPTION": (
        "Versioned REST API for operators (session or `Token`), tills (`Till <key>:<secret>`) "
        "and customers (`Customer <token>`). Every error has the same shape: "
        "`{status, code, message, errors}`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
    # Several models have fields named kind/state with different choices: name each enum.
    "ENUM_NAME_OVERRIDES": {
        "NotifierKindEnum": "crm.models.customers.Notifier.Kind",
        "CustomerStateEnum": "crm.models.customers.Customer.State",
        "CardKindEnum": "crm.models.cards.Card.Kind",
        "CardStateEnum": "crm.models.cards.Card.State",
        "PurchaseKindEnum": "crm.models.purchases.Purchase.Kind",
        "PurchaseStateEnum": "crm.models.purchases.Purchase.State",
        "IdentifierKindEnum": "crm.api.customer_serializers.IDENTIFIER_KIND_CHOICES",
        "ContactKindEnum": "crm.api.customer_serializers.CONTACT_KIND_CHOICES",
        "SegmentKindEnum": "segments.models.Segment.Kind",
    },
}

# --- Celery -------------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_TASK_ACKS_LATE = True  # a worker that dies mid-task leaves the task for another worker
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_QUEUES = tuple(
    Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ("default", "messaging", "imports", "periodic")
)
# Routing by task module: long imports and mass messaging never starve the default queue.
CELERY_TASK_ROUTES = {
    "core.tasks.import_run": {"queue": "imports"},
    "*.tasks.import_*": {"queue": "imports"},
    "communications.tasks.*": {"queue": "messaging"},
    "*.tasks.periodic_*": {"queue": "periodic"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# The beat schedule, in one place. django-celery-beat copies it into the database at start,
# where an administrator may tune it in the admin.
CELERY_BEAT_SCHEDULE: dict[str, dict] = {
    "core-heartbeat": {
        "task": "core.tasks.periodic_heartbeat",
        "schedule": timedelta(seconds=30),
    },
    "crm-verification-codes-purge": {
        "task": "crm.tasks.periodic_verification_codes_purge",
        "schedule": crontab(hour=3, minute=17),
    },
    # The ledger (crm/tasks/ledger.py): set-based, chunked, harmless to overlap or repeat.
    "crm-activate-lots": {"task": "crm.tasks.periodic_activate_lots", "schedule": timedelta(minutes=5)},
    "crm-expire-lots": {"task": "crm.tasks.periodic_expire_lots", "schedule": timedelta(minutes=5)},
    "crm-notify-expiring": {"task": "crm.tasks.periodic_notify_expiring", "schedule": timedelta(hours=1)},
    "crm-release-holds": {"task": "crm.tasks.periodic_release_holds", "schedule": timedelta(minutes=1)},
    # Rolling counters forget the days that left their window (a no-op until the day changes
    # in the counter's time zone, so hourly covers every zone); calendar ones drop old periods.
    "attributes-counters-roll": {
        "task": "attributes.tasks.periodic_counters_roll",
        "schedule": crontab(minute=5),
    },
    # Status systems: start due scheduled recalculations and expired grace periods.
    "statuses-recalculate-due": {"task": "statuses.tasks.periodic_recalculate_due", "schedule": timedelta(minutes=10)},
    # Segments: purchase totals, then RFM, nightly; dynamic segments hourly (after the totals at night).
    "segments-customer-stats": {"task": "segments.tasks.periodic_customer_stats_rebuild", "schedule": crontab(hour=1, minute=30)},
    "segments-rfm": {"task": "segments.tasks.periodic_rfm_recompute", "schedule": crontab(hour=2, minute=15)},
    "segments-refresh": {"task": "segments.tasks.periodic_refresh_all", "schedule": crontab(minute=40)},
    "offers-coupons-expire": {"task": "offers.tasks.periodic_coupons_expire", "schedule": timedelta(minutes=5)},
    "offers-finish-ended": {"task": "offers.tasks.periodic_offers_finish", "schedule": crontab(minute=7)},
}

# --- Logging --------------------------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Security when served for real ----------------------------------------------------------
if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Product settings -----------------------------------------------------------------------
LOYALTY = {
    "DEMO_PASSWORD": os.environ.get("DEMO_PASSWORD", "demo-pass-123"),
    # Who delivers one-time codes (crm.senders): the default logs, and with DEBUG keeps the last code.
    "OTP_SENDER": os.environ.get("OTP_SENDER", "crm.senders.LoggingCodeSender"),
    "CUSTOMER_TOKEN_DAYS": int(os.environ.get("CUSTOMER_TOKEN_DAYS", "90")),
}

# --- Anti-fraud limits ------------------------------------------------------------------------
# One-time code requests (app login, contact change, contact verification) per client IP, counted
# in the Redis cache in fixed windows (crm.services.ip_limits). 0 turns the limit off.
OTP_IP_LIMIT = int(os.environ.get("OTP_IP_LIMIT", "20"))
OTP_IP_WINDOW_SECONDS = int(os.environ.get("OTP_IP_WINDOW_SECONDS", "3600"))
# How many reverse proxies in front of the app append to X-Forwarded-For. 0: the header is ignored
# and the client IP is REMOTE_ADDR (loymax.api.client_ip).
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
