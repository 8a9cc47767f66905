"""Accounts in the browser: sign up and confirm from the emailed link, two-factor with an
authenticator app and with a recovery code, a passkey on Chromium's virtual authenticator, and
logging out another session."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from tests.base import totp_code
from tests.browser import PASSWORD, confirm_password, log_in

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], None]


def test_sign_up_confirm_from_the_console_email_then_log_in(
    visitor: Page, settings, capsys: pytest.CaptureFixture[str], screenshot: Screenshot
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"  # as make run prints them
    page = visitor
    page.goto("/accounts/signup/")
    screenshot(page, "account-signup")
    page.fill("#id_email", "vera@example.org")
    page.fill("#id_name", "Vera Verified")
    page.fill("#id_password1", PASSWORD)
    page.fill("#id_password2", PASSWORD)
    page.click("#signup-submit")
    expect(page.locator("#verification-sent")).to_be_visible()
    expect(page.locator("#nav-login")).to_be_visible()  # no session before the address is proved
    screenshot(page, "account-verification-sent")

    printed = capsys.readouterr().out
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", printed)
    assert link, printed
    page.goto(urlsplit(link[0]).path)
    screenshot(page, "account-confirm-email")
    page.click("#confirm-email")
    expect(page.locator("#messages")).to_contain_text("Your address vera@example.org is confirmed.")
    expect(page).to_have_url("/orgs/")
    page.click("#nav-logout")
    expect(page.locator("#nav-login")).to_be_visible()

    page.goto("/accounts/login/")
    screenshot(page, "account-login")
    page.fill("#id_login", "Vera@Example.org")
    page.fill("#id_password", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url("/orgs/")
    expect(page.locator("#messages")).to_contain_text("You are logged in as Vera Verified.")


def test_totp_then_a_code_then_a_recovery_code(alice_page: Page, alice, screenshot: Screenshot) -> None:
    page = alice_page
    page.click("#nav-profile")
    page.click("#link-mfa")
    screenshot(page, "account-mfa")
    page.click("#totp-activate")
    confirm_password(page)
    expect(page.locator("img.qr")).to_be_visible()
    screenshot(page, "account-totp-activate")
    secret = page.input_value("#authenticator_secret")
    page.fill("#id_code", totp_code(secret))
    page.click("#totp-activate-submit")
    codes = page.locator("textarea").input_value().split()
    assert len(codes) == 10, codes
    screenshot(page, "account-recovery-codes")

    page.click("#nav-logout")
    page.goto("/accounts/login/")
    page.fill("#id_login", alice.email)
    page.fill("#id_password", PASSWORD)
    page.click("#login-submit")
    expect(page).to_have_url("/accounts/2fa/authenticate/")
    screenshot(page, "account-mfa-code")
    page.fill("#id_code", totp_code(secret))
    page.click("#mfa-submit")
    expect(page.locator("#nav-logout")).to_be_visible()

    page.click("#nav-logout")
    page.goto("/accounts/login/")
    page.fill("#id_login", alice.email)
    page.fill("#id_password", PASSWORD)
    page.click("#login-submit")
    page.fill("#id_code", codes[0])
    page.click("#mfa-submit")
    expect(page.locator("#nav-logout")).to_be_visible()


def test_a_passkey_on_the_virtual_authenticator_logs_in(alice_page: Page, alice, screenshot: Screenshot) -> None:
    page = alice_page
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    authenticator = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )["authenticatorId"]
    page.goto("/accounts/2fa/")
    page.click("#webauthn-add")
    confirm_password(page)
    page.fill("#id_name", "Laptop")
    page.check("#id_passwordless")
    screenshot(page, "account-passkey-add")
    page.click("#mfa_webauthn_add")
    expect(page.locator("#messages")).to_contain_text("Security key added.")
    [credential] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})["credentials"]
    assert credential["isResidentCredential"] is True  # a passkey: it logs in without a password

    page.click("#nav-logout")
    page.goto("/accounts/login/")
    page.click("#passkey_login")
    expect(page.locator("#nav-logout")).to_be_visible()
    expect(page.locator("#messages")).to_contain_text("You are logged in as Alice.")


def test_log_out_another_session_from_the_sessions_page(
    new_page: Callable[..., Page], alice, screenshot: Screenshot
) -> None:
    laptop, phone = new_page(), new_page()
    log_in(laptop, alice.email)
    log_in(phone, alice.email)
    laptop.goto("/accounts/sessions/")
    expect(laptop.locator("#sessions-table tbody tr")).to_have_count(2)
    expect(laptop.locator("#sessions-table tbody tr.current")).to_contain_text("this browser")
    screenshot(laptop, "account-sessions")
    laptop.click("#end-others")
    expect(laptop.locator("#sessions-table tbody tr")).to_have_count(1)
    phone.goto("/orgs/")
    expect(phone).to_have_url(re.compile(r"/accounts/login/"))
    laptop.goto("/orgs/")
    expect(laptop).to_have_url("/orgs/")
