from __future__ import annotations

import os

import pytest
from django.conf import settings
from django.db import connection

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` are skipped on the SQLite pass (make test runs both)."""
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL; make test runs it in the PostgreSQL pass")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Rate-limit counters (ours and allauth's) live in the cache: each test starts without them."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def is_postgres() -> bool:
    return connection.vendor == "postgresql"
