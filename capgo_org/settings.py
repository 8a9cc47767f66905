"""Settings for capgo-org: one module, driven by environment variables.

With no environment at all the site runs on SQLite with a local-memory cache and
prints emails to the console, so `make run` works on a fresh machine. Production sets
DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=false.
"""

from __future__ import annotations

import sys
from pathlib import Path

import environ
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# The test suite runs with its own throwaway key and fast password hashing.
TESTING = "pytest" in sys.modules
# A development key only works with DEBUG on (or under test); production must set SECRET_KEY.
if DEBUG or TESTING:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789abcdefghijklmnop")
else:
    SECRET_KEY = env.str("SECRET_KEY")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Absolute URLs (logos, invitation links) when no request is at hand.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "axes",
    "organizations",
    "django_tasks",
    "django_tasks_db",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "organizations.middleware.ApiGuardMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "capgo_org.urls"
WSGI_APPLICATION = "capgo_org.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
# Persistent connections with health checks: a request should not pay for a connect.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
if DATABASES["default"]["ENGINE"].endswith("postgresql") and env.bool("DB_PREPARED_STATEMENTS", default=True):
    # Server-side binding lets psycopg prepare a statement the fifth time a connection runs it;
    # PostgreSQL then skips parsing and planning, which is most of a short query's cost
    # (bench/README.md). Set DB_PREPARED_STATEMENTS=false behind a transaction-mode pooler.
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Covering indexes (INCLUDE) are a PostgreSQL optimisation; SQLite builds them without the
# extra columns, which is all the development database needs.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
            # Lets several deployments (or test runs) share one Redis database without sharing counters.
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default=""),
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

AUTH_USER_MODEL = "organizations.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # PBKDF2 costs about half a second per hash here; tests create hundreds of users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "org-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env.str("MEDIA_URL", default="/media/")
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if TESTING:
    # No collectstatic before tests: plain storage serves straight from the finders.
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
AWS_STORAGE_BUCKET_NAME = env.str("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES["default"] = {"BACKEND": "storages.backends.s3.S3Storage"}

EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="capgo-org <noreply@localhost>")
# Mail leaves the request: send_mail() and organizations.emails.queue_email() store the message
# and a task sends it through EMAIL_DELIVERY_BACKEND, the backend that EMAIL_URL names.
EMAIL_DELIVERY_BACKEND = "django.core.mail.backends.locmem.EmailBackend" if TESTING else EMAIL_CONFIG["EMAIL_BACKEND"]
EMAIL_BACKEND = "organizations.emails.QueuedEmailBackend"
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)

# The API refuses bodies over 1 MiB (413); file uploads are checked by their own validators.
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024
API_MAX_BODY_BYTES = 1024 * 1024

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "organizations.authentication.ApiKeyAuthentication",
        "organizations.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["organizations.api.parsers.AnyJSONParser"],
    "EXCEPTION_HANDLER": "organizations.api.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": [],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "capgo-org API",
    "DESCRIPTION": "Organizations, members, API keys and the audit log (Capgo-compatible).",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI's assets come from the app's own static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# API keys: rate limit per key and per client address for failed authentication.
# Under test, the suite sends thousands of requests a minute with a few keys from one address;
# the tests of the limits set them explicitly (tests/test_ratelimit.py).
API_RATE_LIMIT_PER_MINUTE = env.int("API_RATE_LIMIT_PER_MINUTE", default=1_000_000 if TESTING else 100)
# Per-key exceptions by key id, e.g. API_RATE_LIMIT_OVERRIDES="12=1000,15=10" (a larger plan, a noisy script).
API_RATE_LIMIT_OVERRIDES = {k: int(v) for k, v in env.dict("API_RATE_LIMIT_OVERRIDES", default={}).items()}
AUTH_FAILURE_LIMIT_PER_MINUTE = env.int("AUTH_FAILURE_LIMIT_PER_MINUTE", default=1_000_000 if TESTING else 30)
# last_used_at is written at most once per this many seconds per key.
API_KEY_LAST_USED_RESOLUTION = 60
INVITATION_TTL_DAYS = 7

# Background work (issue 13) ---------------------------------------------------------------
# Tasks use Django 6's django.tasks API (the django-tasks backport). TASKS_BACKEND picks the engine:
# "database" (default: the tasks live in DATABASE_URL, run by `manage.py worker`), "rq" (Redis at
# TASKS_REDIS_URL, default REDIS_URL), or "immediate" (run inside the caller; the test default).
# Work that must not be lost is a row of its own (an email, a webhook delivery); a task only
# wakes a worker for it, and the periodic sweep re-queues whatever a crash left behind.
TASKS_BACKEND = env.str("TASKS_BACKEND", default="immediate" if TESTING else "database")
_TASK_BACKENDS = {
    "database": "django_tasks_db.DatabaseBackend",
    "rq": "django_tasks_rq.RQBackend",
    "immediate": "django_tasks.backends.immediate.ImmediateBackend",
}
TASKS = {"default": {"BACKEND": _TASK_BACKENDS[TASKS_BACKEND], "QUEUES": ["default"]}}
_RQ_DEFAULT = env.str("TEST_REDIS_URL", default="") if TESTING else REDIS_URL
RQ_QUEUES = {"default": {"URL": env.str("TASKS_REDIS_URL", default=_RQ_DEFAULT or "redis://127.0.0.1:6379/0")}}
# RQ's workers must run jobs through django-tasks' shim (`manage.py rqworker` reads this).
RQ = {"JOB_CLASS": "django_tasks_rq.Job"}
if TASKS_BACKEND == "rq":
    INSTALLED_APPS.append("django_rq")
# What `manage.py worker` enqueues, and how often (seconds). Each run is idempotent, so several
# workers scheduling them, or a restart running them early, does no harm.
PERIODIC_TASKS = {
    "organizations.tasks.sweep_emails": 60,
    "webhooks.tasks.sweep_deliveries": 60,
    "webhooks.tasks.cleanup": 3600,
    "organizations.tasks.prune_task_results": 3600,
}

# Webhooks: receivers must be public https hosts (the SSRF guard). WEBHOOK_ALLOW_PRIVATE_URLS=true
# lifts that for development and tests only: loopback, private addresses, IP literals and http.
WEBHOOK_ALLOW_PRIVATE_URLS = env.bool("WEBHOOK_ALLOW_PRIVATE_URLS", default=False)
# The DNS server that resolves receivers' names, "host" or "host:port"; empty: the system's.
# Under test, "none" (no name resolves): a test that needs DNS runs its own server (tests/dns_server.py),
# and none asks the machine's resolver by accident.
DNS_RESOLVER = env.str("DNS_RESOLVER", default="none" if TESTING else "")
DNS_TIMEOUT_SECONDS = env.float("DNS_TIMEOUT_SECONDS", default=1.0 if TESTING else 3.0)
# A CA bundle to trust for receivers instead of the system's (a private CA; the tests' own).
WEBHOOK_CA_FILE = env.str("WEBHOOK_CA_FILE", default="")
WEBHOOK_TIMEOUT_SECONDS = 20
# How long a worker holds a delivery it is sending; past it, another worker may take it over
# (the first one died). Must exceed the timeout.
WEBHOOK_CLAIM_SECONDS = env.int("WEBHOOK_CLAIM_SECONDS", default=60)
WEBHOOK_SECRET_GRACE_HOURS = 24
WEBHOOK_RETENTION_DAYS = 30

# Failed browser and admin logins (django-axes), counted in the shared cache.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# Both login forms (pages and admin) post the email as `username`; axes would look for `email`.
AXES_USERNAME_FORM_FIELD = "username"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"

# Security headers; the deploy settings turn on the HTTPS-only ones.
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG and env.bool("HTTPS", default=False))
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
# Preloading needs includeSubDomains: a deployment that declares every subdomain HTTPS opts in to both.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=SECURE_HSTS_INCLUDE_SUBDOMAINS)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=False) else None
SESSION_COOKIE_AGE = 60 * 60 * 24 * 7
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:", "https:"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "frame-ancestors": ["'none'"],
        "form-action": ["'self'"],
        "base-uri": ["'self'"],
    }
}

# One pipeline for every log line: Django's own loggers propagate to the root handler, whose
# filter takes keys, digests, password hashes and credentials out of messages and tracebacks.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": "organizations.logging.RedactSecretsFilter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["redact_secrets"]}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django": {"level": "INFO"}, "django.request": {"level": "ERROR"}},
}

# CORS: none unless CORS_ALLOWED_ORIGINS names the browser origins that may call the API.
CORS_ALLOWED_ORIGINS = env.list("CORS_ALLOWED_ORIGINS", default=[])
if CORS_ALLOWED_ORIGINS:
    INSTALLED_APPS.append("corsheaders")
    MIDDLEWARE.insert(0, "corsheaders.middleware.CorsMiddleware")
    CORS_URLS_REGEX = r"^/(?:organization|apikey|webhooks)(?:/.*)?$"
    CORS_ALLOW_HEADERS = ["authorization", "capgkey", "x-api-key", "content-type"]
    CORS_EXPOSE_HEADERS = ["RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After"]
    CORS_ALLOW_METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
