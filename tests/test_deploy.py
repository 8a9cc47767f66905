"""Deployment settings: `check --deploy` is clean in production, and production refuses to start unsafe.

Each test runs manage.py in a subprocess with what an operator sets first (DEBUG off, a secret
key, the host name) and nothing else, because the settings module reads the environment once,
at import. No `.env` is read (ENV_FILE empty): a checkout where `make run` ran has one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.load import ROOT

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "deploy-test-only-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKL",
    "ALLOWED_HOSTS": "capgo-org.example",
    "DATABASE_URL": "sqlite:////nonexistent/never-opened.sqlite3",
    "ENV_FILE": "",
}
PRODUCTION_VARIABLES = (
    *PRODUCTION,
    "HTTPS",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "REDIS_URL",
    "CORS_ALLOWED_ORIGINS",
    "API_RATE_LIMIT_PER_MINUTE",
    "AUTH_FAILURE_LIMIT_PER_MINUTE",
    "SECURE_COOKIES",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_PRELOAD",
    "BEHIND_PROXY",
)


def manage(*args: str, **env_changes: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in PRODUCTION_VARIABLES and not k.startswith("DJANGO_")}
    env.update(PRODUCTION)
    for name, value in env_changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_check_deploy_is_clean_with_only_debug_off_a_secret_key_and_the_host() -> None:
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_settings_refuse_to_load_without_a_secret_key() -> None:
    result = manage("check", SECRET_KEY=None)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr
    assert "ImproperlyConfigured" in result.stderr


PROBE = (
    "import json; from django.conf import settings as s; print('RESULT ' + json.dumps({"
    "'DEBUG': s.DEBUG, 'SESSION_COOKIE_SECURE': s.SESSION_COOKIE_SECURE,"
    "'CSRF_COOKIE_SECURE': s.CSRF_COOKIE_SECURE,"
    "'SESSION_COOKIE_HTTPONLY': s.SESSION_COOKIE_HTTPONLY, 'SESSION_COOKIE_SAMESITE': s.SESSION_COOKIE_SAMESITE,"
    "'SECURE_SSL_REDIRECT': s.SECURE_SSL_REDIRECT, 'SECURE_HSTS_SECONDS': s.SECURE_HSTS_SECONDS,"
    "'SECURE_HSTS_INCLUDE_SUBDOMAINS': s.SECURE_HSTS_INCLUDE_SUBDOMAINS, 'SECURE_HSTS_PRELOAD': s.SECURE_HSTS_PRELOAD,"
    "'X_FRAME_OPTIONS': s.X_FRAME_OPTIONS, 'SECURE_CONTENT_TYPE_NOSNIFF': s.SECURE_CONTENT_TYPE_NOSNIFF,"
    "'RENDERERS': s.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES'], 'CORS': 'corsheaders' in s.INSTALLED_APPS,"
    "'API_RATE_LIMIT_PER_MINUTE': s.API_RATE_LIMIT_PER_MINUTE,"
    "'API_USER_RATE_LIMIT_PER_MINUTE': s.API_USER_RATE_LIMIT_PER_MINUTE, 'API_KEYS_PER_USER': s.API_KEYS_PER_USER,"
    "'CACHE': s.CACHES['default']['BACKEND'],"
    "'AUTH_FAILURE_LIMIT_PER_MINUTE': s.AUTH_FAILURE_LIMIT_PER_MINUTE}))"
)


def settings_of(**env_changes: str | None) -> dict[str, object]:
    result = manage("shell", "-v", "0", "-c", PROBE, **env_changes)
    assert result.returncode == 0, result.stderr
    return json.loads(next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))[7:])


def test_production_settings_are_secure_by_default() -> None:
    # Only DEBUG off, a secret key and the host: the defaults must already be the safe ones.
    assert settings_of() == {
        "DEBUG": False,
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SECURE_SSL_REDIRECT": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_HSTS_PRELOAD": True,
        "X_FRAME_OPTIONS": "DENY",
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "RENDERERS": ["organizations.api.renderers.JSONRenderer"],  # JSON only (orjson): no browsable API
        "CORS": False,
        "API_RATE_LIMIT_PER_MINUTE": 100,
        "API_USER_RATE_LIMIT_PER_MINUTE": 200,
        "API_KEYS_PER_USER": 100,
        "AUTH_FAILURE_LIMIT_PER_MINUTE": 30,
        # No REDIS_URL: the cache every process shares is the database's.
        "CACHE": "django.core.cache.backends.db.DatabaseCache",
    }


def test_plain_http_is_an_explicit_choice_that_turns_off_every_https_only_setting() -> None:
    values = settings_of(HTTPS="false")
    assert {name: values[name] for name in values if "SECURE" in name and name != "SECURE_CONTENT_TYPE_NOSNIFF"} == {
        "SESSION_COOKIE_SECURE": False,
        "CSRF_COOKIE_SECURE": False,
        "SECURE_SSL_REDIRECT": False,
        "SECURE_HSTS_SECONDS": 0,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": False,
        "SECURE_HSTS_PRELOAD": False,
    }
    # Django's deployment checks then say what that choice costs, as they should.
    result = manage("check", "--deploy", "--fail-level", "WARNING", HTTPS="false")
    assert result.returncode != 0
    assert "security.W008" in result.stderr + result.stdout


def test_each_https_setting_can_still_be_tuned() -> None:
    values = settings_of(SECURE_HSTS_SECONDS="3600", SECURE_HSTS_INCLUDE_SUBDOMAINS="false")
    assert (values["SECURE_HSTS_SECONDS"], values["SECURE_HSTS_INCLUDE_SUBDOMAINS"]) == (3600, False)
    assert values["SECURE_HSTS_PRELOAD"] is False  # preloading needs includeSubDomains
    assert values["SECURE_SSL_REDIRECT"] is True


def test_a_manage_py_command_prints_only_its_own_output() -> None:
    # No library announces itself on every call (django-axes printed a banner to stderr).
    result = manage("check")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.strip() == "System check identified no issues (0 silenced)."
