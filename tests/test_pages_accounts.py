"""Account pages through HTTP (django-allauth): sign up and verify, log in (throttled), log out,
password reset and change, sessions, the API-key review, the profile."""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from PIL import Image

from accounts.verification import is_verified
from organizations.models import ApiKey, AuditEvent, User
from tests.base import ApiTestCase, link_in, make_user

VERIFICATION_SENT = "/accounts/confirm-email/"


def png_bytes(size: tuple[int, int] = (8, 8), color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


class SignupTestCase(ApiTestCase):
    url = "/accounts/signup/"
    form = {"name": "Newcomer", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}

    def test_it_prefills_the_email_from_the_link(self) -> None:
        r = self.client.get(self.url, {"email": "newcomer@example.org"})
        self.assertContains(r, 'value="newcomer@example.org"')
        self.assertContains(r, "Sign up")

    def test_a_new_account_must_verify_its_address_before_anything(self) -> None:
        r = self.client.post(self.url, {"email": "New@Example.org", **self.form})
        self.assertRedirects(r, VERIFICATION_SENT, fetch_redirect_response=False)
        user = User.objects.get(email="new@example.org")
        self.assertEqual(user.name, "Newcomer")
        self.assertFalse(is_verified(user))
        self.assertNotIn("_auth_user_id", self.client.session)  # not logged in
        self.assertRedirects(self.client.get("/orgs/"), "/accounts/login/?next=/orgs/")
        # The link in the email (built from SITE_URL) confirms the address and logs the person in.
        [message] = mail.outbox
        self.assertEqual(message.to, ["new@example.org"])
        link = link_in(message, "/accounts/confirm-email/")
        self.assertTrue(link.startswith(settings.SITE_URL + "/"))
        path = urlsplit(link).path
        self.assertContains(self.client.get(path), "Confirm")
        r = self.client.post(path)
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)
        self.assertTrue(is_verified(user))
        self.assertEqual(self.client.session["_auth_user_id"], str(user.pk))

    def test_it_ignores_a_next_on_another_site(self) -> None:
        self.client.post(self.url + "?next=https://evil.example/", {"email": "x@example.org", **self.form})
        path = urlsplit(link_in(mail.outbox[0], "/accounts/confirm-email/")).path
        r = self.client.post(path)
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)

    def test_a_taken_address_gets_the_same_answer_and_its_owner_an_email(self) -> None:
        r = self.client.post(self.url, {"email": "alice@example.org", **self.form})
        self.assertRedirects(r, VERIFICATION_SENT, fetch_redirect_response=False)
        self.assertEqual(User.objects.filter(email="alice@example.org").count(), 1)
        [message] = mail.outbox
        self.assertEqual(message.to, ["alice@example.org"])
        self.assertIn("already", message.body)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_it_refuses_different_passwords(self) -> None:
        r = self.client.post(
            self.url, {"email": "c@example.org", "name": "C", "password1": "a-long-pass-phrase", "password2": "other"}
        )
        self.assertContains(r, "You must type the same password each time.")
        self.assertFalse(User.objects.filter(email="c@example.org").exists())

    def test_it_requires_a_name(self) -> None:
        r = self.client.post(
            self.url,
            {"email": "noname@example.org", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
        )
        self.assertContains(r, "This field is required.")
        self.assertFalse(User.objects.filter(email="noname@example.org").exists())


class LoginTestCase(ApiTestCase):
    url = "/accounts/login/"

    def login(self, email: str, password: str = "password-123", address: str = "127.0.0.1", **extra: Any) -> Any:
        return self.client.post(self.url, {"login": email, "password": password}, REMOTE_ADDR=address, **extra)

    def test_it_logs_in_with_email_and_password_in_any_case(self) -> None:
        r = self.login("Alice@Example.ORG")
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)
        self.assertContains(self.client.get("/orgs/"), "Alice Org")

    def test_a_wrong_password_and_an_unknown_address_answer_alike(self) -> None:
        wrong = self.login("alice@example.org", "wrong-password")
        unknown = self.login("nobody@example.org", "wrong-password")
        for r in (wrong, unknown):
            self.assertContains(r, "The email address and/or password you specified are not correct.")
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_an_unverified_account_is_sent_a_link_instead_of_a_session(self) -> None:
        make_user("unverified@example.org", verified=False)
        r = self.login("unverified@example.org")
        self.assertRedirects(r, VERIFICATION_SENT, fetch_redirect_response=False)
        self.assertNotIn("_auth_user_id", self.client.session)
        self.assertEqual([m.to for m in mail.outbox], [["unverified@example.org"]])

    def test_verification_emails_to_one_address_are_capped(self) -> None:
        make_user("unverified@example.org", verified=False)
        for _ in range(4):
            self.login("unverified@example.org")
        self.client.post("/accounts/signup/", {"email": "unverified@example.org", **SignupTestCase.form})
        self.assertEqual(len(mail.outbox), 1)  # one per address every three minutes, whoever asks

    def test_a_successful_login_applies_the_saved_language(self) -> None:
        User.objects.filter(pk=self.rita.pk).update(language="de")
        r = self.login("rita@example.org")
        self.assertEqual(r.cookies[settings.LANGUAGE_COOKIE_NAME].value, "de")
        self.assertContains(self.client.get("/orgs/"), "Organisationen")

    def test_five_failures_slow_that_address_for_that_account_only(self) -> None:
        for _ in range(5):
            self.login("wendy@example.org", "wrong-password", address="203.0.113.5")
        r = self.login("wendy@example.org", address="203.0.113.5")  # the right password, too late
        self.assertContains(r, "Too many failed login attempts")
        self.assertNotIn("_auth_user_id", self.client.session)
        # The owner, from anywhere else, is not locked out by what a stranger did.
        self.assertRedirects(
            self.login("wendy@example.org", address="198.51.100.20"), "/orgs/", fetch_redirect_response=False
        )
        self.client.logout()
        # Nor is anyone else from the stranger's address (the per-address limit is ten a minute).
        self.assertRedirects(
            self.login("rita@example.org", address="203.0.113.5"), "/orgs/", fetch_redirect_response=False
        )

    def test_the_slowdown_lasts_five_minutes_at_most(self) -> None:
        started = time.time()
        with mock.patch("allauth.core.internal.ratelimit.time.time", return_value=started):
            for _ in range(5):
                self.login("wendy@example.org", "wrong-password", address="203.0.113.5")
            self.assertContains(
                self.login("wendy@example.org", address="203.0.113.5"), "Too many failed login attempts"
            )
        with mock.patch("allauth.core.internal.ratelimit.time.time", return_value=started + 301):
            self.assertRedirects(
                self.login("wendy@example.org", address="203.0.113.5"), "/orgs/", fetch_redirect_response=False
            )

    def test_ten_failures_a_minute_slow_one_address_but_not_the_others(self) -> None:
        for n in range(10):
            self.login(f"guess{n}@example.org", "wrong-password", address="203.0.113.9")
        self.assertContains(self.login("rita@example.org", address="203.0.113.9"), "Too many failed login attempts")
        self.assertRedirects(
            self.login("rita@example.org", address="198.51.100.21"), "/orgs/", fetch_redirect_response=False
        )

    def test_the_admin_login_is_the_site_login(self) -> None:
        r = self.client.get("/admin/")
        self.assertRedirects(r, "/admin/login/?next=/admin/", fetch_redirect_response=False)
        r = self.client.get("/admin/login/?next=/admin/")
        self.assertRedirects(r, "/accounts/login/?next=/admin/", fetch_redirect_response=False)
        staff = make_user("staff@example.org")
        User.objects.filter(pk=staff.pk).update(is_staff=True, is_superuser=True)
        r = self.client.post(
            "/accounts/login/?next=/admin/", {"login": "staff@example.org", "password": "password-123"}
        )
        self.assertRedirects(r, "/admin/", fetch_redirect_response=False)
        self.assertEqual(self.client.get("/admin/").status_code, 200)

    def test_a_logged_in_user_is_sent_on_to_their_organizations(self) -> None:
        self.client.force_login(self.alice)
        self.assertRedirects(self.client.get(self.url), "/orgs/", fetch_redirect_response=False)


class TrustedProxyTestCase(ApiTestCase):
    """Behind a proxy every client has the proxy's REMOTE_ADDR: limits need the client's own address."""

    PROXY = "10.0.0.2"

    def login(self, email: str, password: str, forwarded_for: str) -> Any:
        return self.client.post(
            "/accounts/login/",
            {"login": email, "password": password},
            REMOTE_ADDR=self.PROXY,
            HTTP_X_FORWARDED_FOR=forwarded_for,
        )

    @override_settings(TRUSTED_PROXY_COUNT=1)
    def test_behind_one_trusted_proxy_each_client_has_its_own_limit(self) -> None:
        for _ in range(5):
            self.login("wendy@example.org", "wrong-password", "203.0.113.5")
        self.assertContains(self.login("wendy@example.org", "password-123", "203.0.113.5"), "Too many failed")
        # Another client behind the same proxy is not affected, and a client cannot pose as another:
        # only the entry the proxy added (the rightmost) counts.
        r = self.login("wendy@example.org", "password-123", "203.0.113.5, 198.51.100.30")
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)

    @override_settings(TRUSTED_PROXY_COUNT=1, AUTH_FAILURE_LIMIT_PER_MINUTE=3)
    def test_api_failures_are_counted_per_client_behind_the_proxy(self) -> None:
        def bad(client_address: str) -> int:
            return self.get(
                "/organization/", key="capgo_aaaaaaaa_" + "x" * 43, REMOTE_ADDR=self.PROXY,
                HTTP_X_FORWARDED_FOR=client_address,
            ).status_code  # fmt: skip

        self.assertEqual([bad("203.0.113.5") for _ in range(4)], [401, 401, 401, 429])
        self.assertEqual(bad("198.51.100.30"), 401)

    def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(self) -> None:
        # A client that invents a new X-Forwarded-For for every attempt is still one address.
        for n in range(5):
            self.login("wendy@example.org", "wrong-password", f"192.0.2.{n}")
        self.assertContains(self.login("wendy@example.org", "password-123", "192.0.2.99"), "Too many failed")

    @override_settings(AUTH_FAILURE_LIMIT_PER_MINUTE=3)
    def test_without_a_trusted_proxy_api_failures_count_per_remote_addr(self) -> None:
        statuses = [
            self.get(
                "/organization/", key="capgo_aaaaaaaa_" + "x" * 43, REMOTE_ADDR="192.0.2.50",
                HTTP_X_FORWARDED_FOR=f"198.51.100.{n}",
            ).status_code
            for n in range(4)
        ]  # fmt: skip
        self.assertEqual(statuses, [401, 401, 401, 429])


class LogoutTestCase(ApiTestCase):
    def test_it_asks_on_get_and_logs_out_with_a_post(self) -> None:
        self.client.force_login(self.alice)
        self.assertContains(self.client.get("/accounts/logout/"), 'id="logout-form"')
        self.assertEqual(self.client.session["_auth_user_id"], str(self.alice.pk))
        r = self.client.post("/accounts/logout/")
        self.assertRedirects(r, "/accounts/login/", fetch_redirect_response=False)
        self.assertRedirects(self.client.get("/orgs/"), "/accounts/login/?next=/orgs/")


class PasswordResetTestCase(ApiTestCase):
    url = "/accounts/password/reset/"

    def test_it_emails_a_link_that_sets_a_new_password_and_shows_the_keys(self) -> None:
        r = self.client.post(self.url, {"email": "Alice@example.org"}, HTTP_HOST="localhost")
        self.assertRedirects(r, "/accounts/password/reset/done/", fetch_redirect_response=False)
        [message] = mail.outbox
        self.assertEqual(message.to, ["alice@example.org"])
        link = link_in(message, "/accounts/password/reset/key/")
        # Built from SITE_URL, whatever Host the request named.
        self.assertTrue(link.startswith(settings.SITE_URL + "/"), link)
        r = self.client.get(urlsplit(link).path, follow=True)
        self.assertContains(r, "Choose a new password")
        r = self.client.post(
            r.redirect_chain[-1][0], {"password1": "brand-new-secret-1", "password2": "brand-new-secret-1"}
        )
        # Logged in, and first shown the keys that still work.
        self.assertRedirects(r, "/accounts/keys/review/", fetch_redirect_response=False)
        self.alice.refresh_from_db()
        self.assertTrue(self.alice.check_password("brand-new-secret-1"))
        review = self.client.get("/accounts/keys/review/")
        self.assertContains(review, 'id="revoke-all"')
        self.assertContains(review, ApiKey.objects.filter(user=self.alice).first().key_preview)
        self.assertEqual(mail.outbox[-1].to, ["alice@example.org"])  # the "your password was reset" notice

    def test_a_reset_ends_every_session_the_account_had(self) -> None:
        elsewhere = Client()
        elsewhere.force_login(self.alice)
        self.client.post(self.url, {"email": "alice@example.org"})
        link = urlsplit(link_in(mail.outbox[0], "/accounts/password/reset/key/")).path
        form = self.client.get(link, follow=True).redirect_chain[-1][0]
        self.client.post(form, {"password1": "brand-new-secret-1", "password2": "brand-new-secret-1"})
        self.assertRedirects(elsewhere.get("/orgs/"), "/accounts/login/?next=/orgs/")

    def test_a_signup_link_is_built_from_site_url_whatever_the_host(self) -> None:
        self.client.post(
            "/accounts/signup/", {"email": "host@example.org", **SignupTestCase.form}, HTTP_HOST="localhost"
        )
        self.assertTrue(link_in(mail.outbox[0], "/accounts/confirm-email/").startswith(settings.SITE_URL + "/"))

    def test_an_unknown_address_gets_the_same_answer_and_no_email(self) -> None:
        r = self.client.post(self.url, {"email": "nobody@example.org"})
        self.assertRedirects(r, "/accounts/password/reset/done/", fetch_redirect_response=False)
        self.assertEqual(mail.outbox, [])

    def test_resets_for_one_address_are_capped(self) -> None:
        for _ in range(5):
            self.client.post(self.url, {"email": "rita@example.org"})
        self.assertEqual(len(mail.outbox), 3)  # three in 15 minutes for one recipient

    def test_a_wrong_link_says_so(self) -> None:
        r = self.client.get("/accounts/password/reset/key/1-set-password/")
        self.assertContains(r, "This link does not work any more")


class PasswordChangeTestCase(ApiTestCase):
    url = "/accounts/password/change/"

    def test_a_change_ends_the_other_sessions_and_shows_the_keys_to_revoke(self) -> None:
        other = Client()
        other.force_login(self.alice)
        self.assertEqual(other.get("/orgs/").status_code, 200)
        self.client.force_login(self.alice)
        r = self.client.post(
            self.url,
            {"oldpassword": "password-123", "password1": "brand-new-secret-1", "password2": "brand-new-secret-1"},
        )
        self.assertRedirects(r, "/accounts/keys/review/", fetch_redirect_response=False)
        self.assertEqual(self.client.get("/orgs/").status_code, 200)  # this session stays
        self.assertRedirects(other.get("/orgs/"), "/accounts/login/?next=/orgs/")  # every other one ended
        self.assertEqual(mail.outbox[-1].to, ["alice@example.org"])  # the notice, pointing to the keys
        self.assertIn(settings.SITE_URL + "/accounts/keys/review/", mail.outbox[-1].body)
        live = ApiKey.objects.filter(user=self.alice, revoked_at__isnull=True).count()
        self.assertGreater(live, 0)
        self.assertContains(self.client.get("/accounts/keys/review/"), f"Revoke all {live} keys")

        r = self.client.post("/accounts/keys/revoke-all/", follow=True)
        self.assertContains(r, f"{live} API keys were revoked.")
        self.assertFalse(ApiKey.objects.filter(user=self.alice, revoked_at__isnull=True).exists())
        self.assertError(self.get("/organization/", key=self.key["all"]), 401, "invalid_apikey")
        revoked = AuditEvent.objects.filter(table_name="apikeys", operation="UPDATE", new_record__revoked=True)
        self.assertEqual(revoked.count(), ApiKey.objects.filter(user=self.alice, is_limited=False).count() + 1)
        self.assertEqual(set(revoked.values_list("actor_user_email", flat=True)), {"alice@example.org"})
        # Revoking is for the person's own keys only.
        self.assertEqual(self.get("/organization/", key=self.adam_key).status_code, 200)

    def test_revoke_all_needs_a_post(self) -> None:
        self.client.force_login(self.alice)
        self.assertEqual(self.client.get("/accounts/keys/revoke-all/").status_code, 405)
        self.assertTrue(ApiKey.objects.filter(user=self.alice, revoked_at__isnull=True).exists())


class SessionsPageTestCase(ApiTestCase):
    def test_it_lists_the_sessions_and_ends_the_others(self) -> None:
        phone = Client(HTTP_USER_AGENT="Phone Browser/1.0")
        phone.post("/accounts/login/", {"login": "alice@example.org", "password": "password-123"})
        self.client.post(
            "/accounts/login/", {"login": "alice@example.org", "password": "password-123"}, REMOTE_ADDR="198.51.100.7"
        )
        r = self.client.get("/accounts/sessions/")
        self.assertContains(r, "Phone Browser/1.0")
        self.assertContains(r, "198.51.100.7")
        self.assertEqual(phone.get("/orgs/").status_code, 200)
        r = self.client.post("/accounts/sessions/", follow=True)
        self.assertEqual(r.status_code, 200)
        self.assertRedirects(phone.get("/orgs/"), "/accounts/login/?next=/orgs/")
        self.assertEqual(self.client.get("/orgs/").status_code, 200)


class EmailChangeTestCase(ApiTestCase):
    def test_a_new_address_counts_once_it_is_verified(self) -> None:
        self.client.force_login(self.rita)
        r = self.client.post("/accounts/email/", {"action_add": "", "email": "rita.new@example.org"})
        self.assertEqual(r.status_code, 302)
        self.rita.refresh_from_db()
        self.assertEqual(self.rita.email, "rita@example.org")  # unchanged until the new one is proved
        path = urlsplit(link_in(mail.outbox[-1], "/accounts/confirm-email/")).path
        self.client.post(path)
        self.rita.refresh_from_db()
        self.assertEqual(self.rita.email, "rita.new@example.org")
        self.assertTrue(is_verified(self.rita))


class ProfileTestCase(ApiTestCase):
    url = "/accounts/profile/"

    def setUp(self) -> None:
        self.media = tempfile.TemporaryDirectory()
        self.addCleanup(self.media.cleanup)
        media_settings = override_settings(MEDIA_ROOT=self.media.name)
        media_settings.enable()
        self.addCleanup(media_settings.disable)

    def test_anonymous_is_sent_to_log_in(self) -> None:
        self.assertRedirects(self.client.get(self.url), "/accounts/login/?next=/accounts/profile/")

    def test_it_saves_name_and_language_and_switches_the_language(self) -> None:
        self.client.force_login(self.rita)
        r = self.client.post(self.url, {"name": "Rita R.", "language": "de"})
        self.assertRedirects(r, self.url, fetch_redirect_response=False)
        self.assertEqual(r.cookies[settings.LANGUAGE_COOKIE_NAME].value, "de")
        self.rita.refresh_from_db()
        self.assertEqual((self.rita.name, self.rita.language), ("Rita R.", "de"))
        self.assertContains(self.client.get(self.url), "Ihr Profil wurde gespeichert.")

    def test_it_stores_a_valid_avatar_re_encoded(self) -> None:
        self.client.force_login(self.rita)
        avatar = SimpleUploadedFile("me.png", png_bytes(), content_type="image/png")
        self.client.post(self.url, {"name": "Rita", "language": "en", "avatar": avatar})
        self.rita.refresh_from_db()
        self.assertTrue(self.rita.avatar.name.startswith(f"avatars/{self.rita.pk}/"))
        self.assertTrue((Path(self.media.name) / self.rita.avatar.name).exists())
        self.assertContains(self.client.get(self.url), f'src="/media/{self.rita.avatar.name}"')

    def test_remove_my_avatar_is_offered_only_when_there_is_one(self) -> None:
        self.client.force_login(self.rita)
        self.assertNotContains(self.client.get(self.url), 'name="remove_avatar"')
        avatar = SimpleUploadedFile("me.png", png_bytes(), content_type="image/png")
        self.client.post(self.url, {"name": "Rita", "language": "en", "avatar": avatar})
        self.assertContains(self.client.get(self.url), 'name="remove_avatar"')
        self.client.post(self.url, {"name": "Rita", "language": "en", "remove_avatar": "on"})
        self.rita.refresh_from_db()
        self.assertEqual(self.rita.avatar.name, "")

    def test_it_refuses_a_file_that_is_not_an_image(self) -> None:
        self.client.force_login(self.rita)
        fake = SimpleUploadedFile("me.png", b"not an image at all", content_type="image/png")
        r = self.client.post(self.url, {"name": "Rita", "language": "en", "avatar": fake})
        self.assertContains(r, "not a valid PNG, JPEG or WebP image")
        self.rita.refresh_from_db()
        self.assertEqual(self.rita.avatar.name, "")
        self.assertEqual(list(Path(self.media.name).rglob("*.*")), [])


class PasswordChangeFormTestCase(ApiTestCase):
    def test_it_has_plain_labels_no_placeholders_one_reset_link_and_the_organizations_rules(self) -> None:
        self.org.password_policy_config = {
            "enabled": True, "min_length": 14, "require_uppercase": True, "require_number": False,
            "require_special": False,
        }  # fmt: skip
        self.org.save()
        self.client.force_login(self.rita)
        r = self.client.get("/accounts/password/change/")
        for label in ("Current password", "New password", "New password, again", "Show the passwords"):
            self.assertContains(r, label)
        self.assertNotContains(r, "placeholder=")
        self.assertContains(r, "Forgot your password?", count=1)
        self.assertSays(
            r, "Your organizations ask for more: Alice Org: at least 14 characters, an uppercase letter (A–Z)"
        )
        self.assertContains(r, 'autocomplete="current-password"')
        self.assertContains(r, 'autocomplete="new-password"')


class LanguageSwitchTestCase(ApiTestCase):
    def test_the_switch_sets_the_cookie_and_remembers_the_choice_of_a_user(self) -> None:
        self.client.force_login(self.wendy)
        r = self.client.post("/i18n/setlang/", {"language": "de", "next": "/orgs/"})
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)
        self.assertEqual(r.cookies[settings.LANGUAGE_COOKIE_NAME].value, "de")
        self.wendy.refresh_from_db()
        self.assertEqual(self.wendy.language, "de")

    def test_it_ignores_an_unknown_language(self) -> None:
        self.client.force_login(self.wendy)
        self.client.post("/i18n/setlang/", {"language": "xx", "next": "/orgs/"})
        self.wendy.refresh_from_db()
        self.assertEqual(self.wendy.language, "")


class AccountCsrfTestCase(ApiTestCase):
    def test_every_account_form_needs_the_csrf_token(self) -> None:
        client = Client(enforce_csrf_checks=True)
        anonymous_forms = {
            "/accounts/login/": {"login": "alice@example.org", "password": "password-123"},
            "/accounts/signup/": {"email": "c@example.org", "name": "C", "password1": "x", "password2": "x"},
            "/accounts/password/reset/": {"email": "alice@example.org"},
            "/i18n/setlang/": {"language": "de"},
        }
        for url, data in anonymous_forms.items():
            with self.subTest(url=url):
                self.assertEqual(client.post(url, data).status_code, 403)
        client.force_login(self.alice)
        logged_in_forms = {
            "/accounts/profile/": {"name": "A", "language": "en"},
            "/accounts/logout/": {},
            "/accounts/keys/revoke-all/": {},
            "/accounts/sessions/": {},
        }
        for url, data in logged_in_forms.items():
            with self.subTest(url=url):
                self.assertEqual(client.post(url, data).status_code, 403)
        self.assertEqual(mail.outbox, [])
        self.assertTrue(ApiKey.objects.filter(user=self.alice, revoked_at__isnull=True).exists())

    def test_the_login_form_works_with_its_token(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.get("/accounts/login/")
        token = client.cookies[settings.CSRF_COOKIE_NAME].value
        r = client.post(
            "/accounts/login/",
            {"login": "alice@example.org", "password": "password-123", "csrfmiddlewaretoken": token},
        )
        self.assertEqual(r.status_code, 302)
