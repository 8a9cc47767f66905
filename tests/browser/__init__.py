"""Browser tests (Playwright + Chromium). The helpers every scenario uses to get in."""

from __future__ import annotations

from playwright.sync_api import Page, expect

PASSWORD = "correct-horse-battery-9"


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#nav-logout")).to_be_visible()


def sign_up(page: Page, name: str, email: str | None = None) -> None:
    """Fills the signup form already on the page (the email may be prefilled) and submits it."""
    if email is not None:
        page.fill("#id_email", email)
    page.fill("#id_name", name)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("#signup-form button[type=submit]")
    expect(page.locator("#nav-logout")).to_be_visible()
