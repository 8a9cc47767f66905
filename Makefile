# make run   — set everything up and serve the site on http://127.0.0.1:$(PORT) (gunicorn + whitenoise, DEBUG off)
# make dev   — the same database, served by Django's development server with DEBUG on
# make test  — set everything up and run every check and test (SQLite, then PostgreSQL)
# make bench — the performance benchmark (see README, Performance)
# make load  — 60 s of mixed traffic on gunicorn + Redis, then the audit-log consistency check (LOAD_SECONDS=15)

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
WORKERS ?= 2
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=
BENCH_ARGS ?=
LOAD_SECONDS ?= 60

.PHONY: run dev local test install install-test checks test-sqlite test-postgres deploy-check redis-check bench load messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test
	@command -v gettext >/dev/null 2>&1 && test -x /usr/bin/chromium && command -v xmlsec1 >/dev/null 2>&1 || { \
		echo "Installing Debian packages: chromium gettext xmlsec1"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium gettext xmlsec1 >/dev/null; }

# --- make run and make dev ---------------------------------------------------------------
# Both read this checkout's git-ignored .env (capgo_org/local_env.py writes it: a generated
# SECRET_KEY, DEBUG off, SITE_URL for $(PORT), HTTPS=false), as every manage.py command does.
local: install
	@command -v msgfmt >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gettext >/dev/null; }
	$(BIN)/python -m capgo_org.local_env --port $(PORT)
	@if [ -d locale ]; then $(BIN)/python manage.py compilemessages --ignore=.venv -v 0; fi
	$(BIN)/python manage.py migrate --noinput -v 0
	$(BIN)/python manage.py seed_demo

# The embedded default as production runs it: DEBUG off, gunicorn, whitenoise.
run: local
	$(BIN)/python manage.py collectstatic --noinput -v 0
	@echo "Serving on http://127.0.0.1:$(PORT)/ with a background worker (Ctrl-C stops both)"
	$(BIN)/python bin/together.py \
		-- $(BIN)/gunicorn capgo_org.wsgi --bind 127.0.0.1:$(PORT) --workers $(WORKERS) --access-logfile - --capture-output \
		-- $(BIN)/python manage.py worker

# Development: Django's server, DEBUG on (debug pages, code reloaded on change).
dev: local
	DEBUG=true $(BIN)/python bin/together.py \
		-- $(BIN)/python manage.py runserver 127.0.0.1:$(PORT) \
		-- $(BIN)/python manage.py worker
# --------------------------------------------------------------------------------------------

checks: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@if [ -d locale ]; then DEBUG=true $(BIN)/python manage.py compilemessages --ignore=.venv -v 0; fi
	DEBUG=true $(BIN)/python manage.py check --fail-level WARNING
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run
	DEBUG=true $(BIN)/python manage.py spectacular --validate --fail-on-warn --file /dev/null
	$(MAKE) --no-print-directory deploy-check

# Production settings must pass Django's deployment checks with no warning, from only what an
# operator sets first: the safe settings are the defaults. No `.env` (ENV_FILE empty).
deploy-check:
	ENV_FILE= DEBUG=false SECRET_KEY=ci-only-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOP \
	ALLOWED_HOSTS=capgo-org.example $(BIN)/python manage.py check --deploy --fail-level WARNING

test-sqlite: install-test redis-check

	REDIS_URL= TEST_REDIS_URL=$(TEST_REDIS_URL) DATABASE_URL=sqlite:///:memory: $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install-test redis-check
	@if $(BIN)/python -c "import psycopg,sys; psycopg.connect('$(TEST_DATABASE_URL)', connect_timeout=3).close()" 2>/dev/null; then \
		REDIS_URL= TEST_REDIS_URL=$(TEST_REDIS_URL) DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/pytest -m "not browser and not readme" $(PYTEST_ARGS); \
	elif [ "$$CI" = "true" ]; then \
		echo "PostgreSQL at $(TEST_DATABASE_URL) is not reachable, and CI=true: failing."; exit 1; \
	else \
		echo "WARNING: PostgreSQL at $(TEST_DATABASE_URL) is not reachable; the PostgreSQL pass was NOT run."; \
	fi

# Tests that need Redis read TEST_REDIS_URL; with CI=true an unreachable Redis fails the run.
redis-check: install-test
	@if ! $(BIN)/python -c "import redis; redis.Redis.from_url('$(TEST_REDIS_URL)', socket_connect_timeout=3).ping()" 2>/dev/null; then \
		if [ "$$CI" = "true" ]; then echo "Redis at $(TEST_REDIS_URL) is not reachable, and CI=true: failing."; exit 1; fi; \
		echo "WARNING: Redis at $(TEST_REDIS_URL) is not reachable; the tests that need it will be skipped."; \
	fi

test: checks test-sqlite test-postgres

# Needs PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (it uses its own database
# capgo_bench and Redis db 12). BENCH_ARGS passes options: make bench BENCH_ARGS="--scale large".
bench: install
	@command -v wrk >/dev/null 2>&1 || { echo "Installing Debian package: wrk"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
	$(BIN)/python bench/run.py $(BENCH_ARGS)

load: install
	$(BIN)/python bench/load.py --seconds $(LOAD_SECONDS)

messages: install-test
	DEBUG=true $(BIN)/python manage.py makemessages -l de --ignore=.venv --ignore=bench --ignore=tests
	DEBUG=true $(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 db.sqlite3-* .env
