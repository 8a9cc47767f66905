"""Browser tests (Playwright + Chromium). The helpers every scenario uses to get in."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.core import mail
from playwright.sync_api import Page, expect

from tests.base import link_in, totp_code

PASSWORD = "correct-horse-battery-9"


def log_in(page: Page, email: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_login", email)
    page.fill("#id_password", password)
    page.click("#login-submit")
    expect(page.locator("#nav-logout")).to_be_visible()


def sign_up(page: Page, name: str, email: str | None = None, *, verified_by_link: bool = False) -> None:
    """Fills the signup form already on the page (the email may be prefilled), submits it, and
    follows the confirmation link from the email, unless an invitation link already proved the address."""
    if email is not None:
        page.fill("#id_email", email)
    email = page.input_value("#id_email")
    page.fill("#id_name", name)
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    sent = len(mail.outbox)
    page.click("#signup-submit")
    if not verified_by_link:
        expect(page.locator("#verification-sent")).to_be_visible()
        [message] = [m for m in mail.outbox[sent:] if m.to == [email]]
        page.goto(urlsplit(link_in(message, "/accounts/confirm-email/")).path)
        page.click("#confirm-email")
    expect(page.locator("#nav-logout")).to_be_visible()


def confirm_password(page: Page, password: str = PASSWORD) -> None:
    """Sensitive changes ask for the password again first (allauth's reauthentication)."""
    expect(page).to_have_url(re.compile(r"/accounts/reauthenticate/"))
    page.fill("#id_password", password)
    page.get_by_role("button", name=re.compile("Confirm")).click()


def set_up_totp(page: Page, password: str = PASSWORD) -> str:
    """From the two-factor page: an authenticator app, with the code computed here. Returns the secret."""
    page.goto("/accounts/2fa/")
    page.click("#totp-activate")
    confirm_password(page, password)
    secret = page.input_value("#authenticator_secret")
    page.fill("#id_code", totp_code(secret))
    page.click("#totp-activate-submit")
    expect(page.locator("textarea")).to_be_visible()  # the recovery codes
    return secret
