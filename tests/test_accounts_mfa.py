"""Two-factor authentication (allauth.mfa) through HTTP: TOTP set up, login with a code, a recovery code;
the admin login asks for the second factor too. The codes are computed here from the shown secret."""

from __future__ import annotations

import re
from typing import Any

from allauth.mfa.models import Authenticator
from django.conf import settings
from django.test import Client

from organizations.models import User
from tests.base import ApiTestCase, make_user, totp_code

PASSWORD = "password-123"


def log_in(client: Client, email: str, next_url: str = "") -> Any:
    return client.post(
        "/accounts/login/" + (f"?next={next_url}" if next_url else ""), {"login": email, "password": PASSWORD}
    )


def set_up_totp(client: Client) -> str:
    """Activate TOTP from the page as a person would; returns the secret the page showed."""
    r = client.get("/accounts/2fa/totp/activate/")
    # Adding a second factor first asks for the password again (allauth's reauthentication).
    assert r["Location"] == "/accounts/reauthenticate/?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F", r
    r = client.post(r["Location"], {"password": PASSWORD})
    assert r["Location"] == "/accounts/2fa/totp/activate/", r
    page = client.get("/accounts/2fa/totp/activate/")
    secret = page.context["form"].secret
    assert secret in page.content.decode()  # shown for typing into an app, beside the QR code
    r = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert r.status_code == 302, r.content
    return secret


class TotpTestCase(ApiTestCase):
    def test_set_up_then_log_in_with_a_code_and_with_a_recovery_code(self) -> None:
        log_in(self.client, "rita@example.org")
        secret = set_up_totp(self.client)
        totp = Authenticator.objects.get(user=self.rita, type=Authenticator.Type.TOTP)
        # Stored encrypted: a copy of the database alone does not give the second factor away.
        self.assertTrue(totp.data["secret"].startswith("fernet:"))
        self.assertNotIn(secret, str(Authenticator.objects.filter(user=self.rita).values_list("data", flat=True)))
        codes_page = self.client.get("/accounts/2fa/recovery-codes/").content.decode()
        recovery = re.search(r"<textarea[^>]*>\s*(\S+)", codes_page)[1]
        self.client.post("/accounts/logout/")

        # The password alone is not enough any more.
        r = log_in(self.client, "rita@example.org")
        self.assertRedirects(r, "/accounts/2fa/authenticate/", fetch_redirect_response=False)
        self.assertRedirects(self.client.get("/orgs/"), "/accounts/login/?next=/orgs/", fetch_redirect_response=False)
        r = self.client.post(
            "/accounts/2fa/authenticate/", {"code": "000000" if totp_code(secret) != "000000" else "1"}
        )
        self.assertContains(r, "Incorrect code.")
        r = self.client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)
        self.assertEqual(self.client.get("/orgs/").status_code, 200)
        self.client.post("/accounts/logout/")

        # A recovery code works once.
        other = Client()
        log_in(other, "rita@example.org")
        r = other.post("/accounts/2fa/authenticate/", {"code": recovery})
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)
        again = Client()
        log_in(again, "rita@example.org")
        self.assertContains(again.post("/accounts/2fa/authenticate/", {"code": recovery}), "Incorrect code.")

    def test_the_admin_login_asks_for_the_second_factor_too(self) -> None:
        staff = make_user("staff@example.org")
        User.objects.filter(pk=staff.pk).update(is_staff=True, is_superuser=True)
        log_in(self.client, "staff@example.org")
        secret = set_up_totp(self.client)
        self.client.post("/accounts/logout/")
        r = self.client.get("/admin/login/?next=/admin/")
        self.assertRedirects(r, "/accounts/login/?next=/admin/", fetch_redirect_response=False)
        r = log_in(self.client, "staff@example.org", next_url="/admin/")
        self.assertRedirects(r, "/accounts/2fa/authenticate/", fetch_redirect_response=False)
        self.assertEqual(self.client.get("/admin/").status_code, 302)  # not yet
        r = self.client.post("/accounts/2fa/authenticate/", {"code": totp_code(secret)})
        self.assertRedirects(r, "/admin/", fetch_redirect_response=False)
        self.assertEqual(self.client.get("/admin/").status_code, 200)

    def test_the_old_admin_login_form_is_gone(self) -> None:
        staff = make_user("staff@example.org")
        User.objects.filter(pk=staff.pk).update(is_staff=True, is_superuser=True)
        r = self.client.post("/admin/login/?next=/admin/", {"username": "staff@example.org", "password": PASSWORD})
        self.assertEqual(r.status_code, 302)
        self.assertNotIn("_auth_user_id", self.client.session)


class StoredSecretTestCase(ApiTestCase):
    def test_a_rotated_secret_key_still_decrypts_and_a_foreign_one_does_not(self) -> None:
        from django.test import override_settings

        from accounts import crypto

        stored = crypto.encrypt("JBSWY3DPEHPK3PXP")
        with override_settings(SECRET_KEY="a-new-key-" + "x" * 40, SECRET_KEY_FALLBACKS=[settings.SECRET_KEY]):
            self.assertEqual(crypto.decrypt(stored), "JBSWY3DPEHPK3PXP")
        foreign = override_settings(SECRET_KEY="someone-elses-key-" + "y" * 40, SECRET_KEY_FALLBACKS=[])
        with foreign, self.assertRaises(ValueError):
            crypto.decrypt(stored)
