"""Settings for capgo-org: one module, driven by environment variables.

With no environment at all the site runs on SQLite with a local-memory cache and
prints emails to the console, so `make run` works on a fresh machine. Production sets
DATABASE_URL, REDIS_URL, SECRET_KEY, ALLOWED_HOSTS and DEBUG=false.
"""

from __future__ import annotations

import sys
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# The test suite runs with its own throwaway key and fast password hashing.
TESTING = "pytest" in sys.modules

# --- The checkout's .env (make run writes it) ----------------------------------------------
# `make run` writes this checkout's local settings (a generated SECRET_KEY, DEBUG off, SITE_URL,
# the explicit HTTPS=false) to a git-ignored `.env`, so that every manage.py command works in a
# fresh shell. Real environment variables win over it. ENV_FILE names another file, or none
# (empty); under test none is read, so the suite never depends on whether `make run` ran here.
ENV_FILE = env.str("ENV_FILE", default="" if TESTING else str(BASE_DIR / ".env"))
if ENV_FILE and Path(ENV_FILE).is_file():
    environ.Env.read_env(ENV_FILE)
# --------------------------------------------------------------------------------------------

DEBUG = env.bool("DEBUG", default=False)
# A development key only works with DEBUG on (or under test); production must set SECRET_KEY.
if DEBUG or TESTING:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-change-me-0123456789abcdefghijklmnop")
else:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured(
            "Set the SECRET_KEY environment variable (production), or run `make run` once in this "
            "checkout: it writes a .env with a generated key that every manage.py command reads."
        )

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
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.socialaccount.providers.saml",
    "organizations",
    "accounts",
    "django_tasks",
    "capgo_org.apps.TasksDatabaseConfig",  # django_tasks_db, with a translated name
    "webhooks",
    "sso",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "csp.middleware.CSPMiddleware",
    # Before any view reads a body, after the middleware that add headers: its 413 carries them.
    "organizations.middleware.BodyLimitMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "accounts.middleware.SessionActivityMiddleware",
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
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # The same backend, with a health check that looks at the socket instead of sending SELECT 1.
    DATABASES["default"]["ENGINE"] = "capgo_org.postgresql"
if DATABASES["default"]["ENGINE"].endswith("postgresql") and env.bool("DB_PREPARED_STATEMENTS", default=True):
    # Server-side binding lets psycopg prepare a statement the fifth time a connection runs it;
    # PostgreSQL then skips parsing and planning, which is most of a short query's cost
    # (bench/README.md). Set DB_PREPARED_STATEMENTS=false behind a transaction-mode pooler.
    DATABASES["default"].setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=5)
# --- SQLite under concurrency -----------------------------------------------------------------
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Concurrent writers wait for each other instead of failing with "database is locked" (503).
    # IMMEDIATE takes the write lock when a transaction begins, so a transaction that read first
    # never has to upgrade its lock (SQLite refuses that at once, whatever the timeout, which is
    # how the last-super_admin race used to end in a 503); the timeout is how long a writer waits
    # for the lock, well inside gunicorn's 30 s; WAL lets reads go on beside the writer.
    # Measured with bench/sqlite_writes.py (README, Security).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        transaction_mode="IMMEDIATE", timeout=20, init_command="PRAGMA journal_mode=WAL"
    )
# --------------------------------------------------------------------------------------------
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
elif TESTING:
    # One process: nothing to share, and no cache query among the queries the tests count.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
else:
    # --- No Redis: every server process shares the database -------------------------------
    # The cache (django-allauth's rate limits use it) is the database's `django_cache` table,
    # which migrate creates (organizations.CacheEntry); the API's rate limits count atomically
    # beside it (organizations/ratelimit.py: a file of their own next to an SQLite database, a
    # table in PostgreSQL). A cache per process would let each worker count a limit on its own.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "django_cache"}}
    # ----------------------------------------------------------------------------------------

AUTH_USER_MODEL = "organizations.User"
# One way in: django-allauth's backend (email and password, with its rate limits). Sessions made
# through any other backend stop being valid.
AUTHENTICATION_BACKENDS = ["allauth.account.auth_backends.AuthenticationBackend"]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # PBKDF2 costs about half a second per hash here; tests create hundreds of users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "org-list"

# Accounts (django-allauth): email login, mandatory verification, two-factor, sessions.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_SIGNUP_FORM_CLASS = "accounts.forms.SignupForm"
ACCOUNT_FORMS = {
    # Login and reset refuse addresses whose domain requires single sign-on (sso.policy).
    "login": "accounts.login_forms.LoginForm",
    "reset_password": "accounts.login_forms.ResetPasswordForm",
    "change_password": "accounts.password_forms.ChangePasswordForm",
    "set_password": "accounts.password_forms.SetPasswordForm",
    "reset_password_from_key": "accounts.password_forms.ResetPasswordKeyForm",
}
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_USER_DISPLAY = "accounts.adapter.user_display"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_UNIQUE_EMAIL = True
# Sign-up, login and password reset answer alike whether an account exists or not.
ACCOUNT_PREVENT_ENUMERATION = True
# A reset asked for an address with no account sends nothing: no mail to strangers on anyone's behalf.
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
# One address per account; a new one replaces it once verified.
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGIN_ON_PASSWORD_RESET = True
# A password change keeps this session and ends every other one (Django's session hash).
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGOUT_REDIRECT_URL = "account_login"
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_EMAIL_SUBJECT_PREFIX = "capgo-org: "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https://") else "http"
# Limits (sliding windows in the shared cache). The per-account part of `login_failed` is keyed
# on the account *and* the client address (accounts.adapter), so a stranger who fails on purpose
# slows only their own address, for five minutes at most.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "reset_password": "20/m/ip,3/15m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
    "manage_email": "10/m/user",
    "change_password": "5/m/user",
    "reauthenticate": "10/m/user",
}
MFA_ADAPTER = "accounts.adapter.MFAAdapter"
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = "capgo-org"
# Browsers treat http://localhost as secure; WebAuthn on plain http is for local use only.
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = SITE_URL.startswith(("http://localhost", "http://127.0.0.1"))
# Behind this many reverse proxies, the client address is the one the outermost proxy saw
# (X-Forwarded-For); 0 means REMOTE_ADDR. Every limit keyed on the client uses it.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
ALLAUTH_TRUSTED_PROXY_COUNT = TRUSTED_PROXY_COUNT
# --- Single sign-on (issue 16, the sso app) -------------------------------------------------
# allauth's socialaccount signs people in through their organization's identity provider. The
# providers are not configured here: each organization's connection (sso.Connection) becomes an
# allauth app at request time (accounts.sso_adapter.SocialAccountAdapter.list_apps).
SOCIALACCOUNT_ADAPTER = "accounts.sso_adapter.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = {
    # allauth's OpenID Connect provider, with the ID token's signature always checked (sso/oidc).
    "openid_connect": {"provider_class": "sso.oidc.provider.SsoOpenIDConnectProvider", "OAUTH_PKCE_ENABLED": True},
}
# A person coming back from their identity provider gets an account without a sign-up form: the
# organization proved it owns the address's domain (sso.Domain), so the address counts as verified.
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False  # the adapter links existing accounts itself, by its own rule
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_REQUESTS_TIMEOUT = 10
# Connection secrets (OIDC client secrets) are encrypted with a key derived from this (Fernet);
# changing it makes stored secrets unreadable (enter them again). Defaults to SECRET_KEY.
SSO_SECRET_KEY = env.str("SSO_SECRET_KEY", default="") or SECRET_KEY
# Development and tests only: identity providers on loopback, private addresses and plain http.
SSO_ALLOW_PRIVATE_URLS = env.bool("SSO_ALLOW_PRIVATE_URLS", default=False)
# --------------------------------------------------------------------------------------------
# Invitation emails an hour: per sending account, per organization and per recipient.
INVITATION_EMAILS_PER_HOUR_PER_SENDER = env.int("INVITATION_EMAILS_PER_HOUR_PER_SENDER", default=100)
INVITATION_EMAILS_PER_HOUR_PER_ORG = env.int("INVITATION_EMAILS_PER_HOUR_PER_ORG", default=200)
INVITATION_EMAILS_PER_HOUR_PER_RECIPIENT = env.int("INVITATION_EMAILS_PER_HOUR_PER_RECIPIENT", default=10)

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
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

# --- Request bodies: a limit on every route, checked before anything reads the body ---------
# (organizations/middleware.py): the API's 1 MiB, and elsewhere room for one 2 MB logo or avatar
# with its form. What passes stays in memory: no upload is ever spooled to a temporary file.
API_MAX_BODY_BYTES = 1024 * 1024
MAX_BODY_BYTES = 3 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 1024 * 1024  # the form fields, files aside
FILE_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES
# ----------------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "organizations.authentication.ApiKeyAuthentication",
        "organizations.authentication.CsrfSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["organizations.api.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["organizations.api.parsers.AnyJSONParser"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "organizations.api.negotiation.ContentNegotiation",
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
# --- Per-user limits ---------------------------------------------------------------------------
# A ceiling across all of a user's keys and their browser session's API calls (more keys do not
# buy more requests), and a cap on the keys a user holds (409 apikey_limit_reached past it).
API_USER_RATE_LIMIT_PER_MINUTE = env.int("API_USER_RATE_LIMIT_PER_MINUTE", default=1_000_000 if TESTING else 200)
API_KEYS_PER_USER = env.int("API_KEYS_PER_USER", default=1_000_000 if TESTING else 100)
# ----------------------------------------------------------------------------------------------
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
    "database": "organizations.queue.RowDatabaseBackend",  # django_tasks_db's, see there
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

# Security headers. Production is HTTPS unless the operator says otherwise: with only DEBUG off,
# a SECRET_KEY and ALLOWED_HOSTS, `check --deploy` is clean. Serving plain HTTP is the explicit
# HTTPS=false (make run's .env says so for the local default; the test suite speaks plain HTTP).
HTTPS = env.bool("HTTPS", default=not (DEBUG or TESTING))
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=HTTPS)
# A year, subdomains included, preload-ready: what the HSTS preload list asks for.
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000 if HTTPS else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=HTTPS)
# Preloading needs includeSubDomains: turning subdomains off turns preloading off too.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=SECURE_HSTS_INCLUDE_SUBDOMAINS)
# Under test the client ignores the flag; keeping it on there tests what production sends.
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=HTTPS or TESTING)
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
