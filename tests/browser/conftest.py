"""Playwright driving Debian's Chromium against pytest-django's live server.

The live server runs in this process: emails land in `mail.outbox` (the locmem backend), and
DJANGO_ALLOW_ASYNC_UNSAFE (tests/conftest.py) lets the ORM run beside Playwright's event loop.

The browser lives for this package only (not the session): Playwright's sync API keeps an
event loop in the main thread, and the rest of the suite should not run next to one.
Screenshots of the main pages are kept in artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from organizations import services
from organizations.models import Organization, User
from organizations.roles import Principal
from tests.base import make_user
from tests.browser import PASSWORD, log_in

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--no-first-run",
]
SCREENSHOTS = Path(django_settings.BASE_DIR) / "artifacts" / "screenshots"

expect.set_options(timeout=10_000)


@pytest.fixture(scope="package")
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        message = f"Chromium is not installed at {CHROMIUM} (make test installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    finally:
        playwright.stop()


@pytest.fixture
def site(live_server, transactional_db, settings, tmp_path: Path) -> str:
    """The live server's URL; uploads go to a temporary folder and emailed links point here."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.SITE_URL = live_server.url
    return live_server.url


@pytest.fixture
def new_page(chromium: Browser, site: str) -> Iterator[Callable[..., Page]]:
    """Opens a page in a fresh browser context (its own cookies): one per person in a test."""
    contexts: list[BrowserContext] = []

    def open_page(locale: str = "en-US", *, javascript: bool = True) -> Page:
        context = chromium.new_context(
            base_url=site, locale=locale, viewport={"width": 1280, "height": 800}, java_script_enabled=javascript
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def visitor(new_page: Callable[..., Page]) -> Page:
    """A page nobody is logged in on. (Not named `page`: pytest-playwright claims that name.)"""
    return new_page()


@pytest.fixture
def screenshot() -> Callable[[Page, str], None]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page: Page, name: str) -> None:
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    return take


@pytest.fixture
def alice(site: str) -> User:
    return make_user("alice@example.org", "Alice", password=PASSWORD)


@pytest.fixture
def org(alice: User) -> Organization:
    return services.organization_create(actor=Principal(alice), name="Acme Rockets")


@pytest.fixture
def alice_page(visitor: Page, alice: User) -> Page:
    """A page where Alice (super admin of `org` when a test asks for it) is logged in."""
    log_in(visitor, alice.email)
    return visitor
