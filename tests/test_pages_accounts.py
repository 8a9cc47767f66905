"""Account pages: sign up, log in (throttled), log out, password reset, profile."""

from __future__ import annotations

import io
import re
import tempfile
from pathlib import Path

from django.conf import settings
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from PIL import Image

from organizations.models import User
from tests.base import ApiTestCase, make_user


def png_bytes(size: tuple[int, int] = (8, 8), color: str = "red") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


class SignupTestCase(ApiTestCase):
    url = "/accounts/signup/"

    def test_it_prefills_the_email_from_the_link(self) -> None:
        r = self.client.get(self.url, {"email": "newcomer@example.org"})
        self.assertContains(r, 'value="newcomer@example.org"')
        self.assertContains(r, "Sign up")

    def test_it_creates_the_account_logs_in_and_follows_a_safe_next(self) -> None:
        r = self.client.post(
            self.url,
            {
                "email": "New@Example.org",
                "name": "Newcomer",
                "password1": "a-long-pass-phrase",
                "password2": "a-long-pass-phrase",
                "next": "/invitations/abc/",
            },
        )
        self.assertRedirects(r, "/invitations/abc/", fetch_redirect_response=False)
        user = User.objects.get(email="new@example.org")
        self.assertEqual(user.name, "Newcomer")
        self.assertEqual(self.client.session["_auth_user_id"], str(user.pk))

    def test_it_ignores_a_next_on_another_site(self) -> None:
        r = self.client.post(
            self.url + "?next=https://evil.example/",
            {
                "email": "x@example.org",
                "name": "X",
                "password1": "a-long-pass-phrase",
                "password2": "a-long-pass-phrase",
            },
        )
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)

    def test_it_refuses_a_taken_email_and_different_passwords(self) -> None:
        r = self.client.post(
            self.url,
            {"email": "alice@example.org", "name": "A", "password1": "a-long-pass-phrase", "password2": "other-pass"},
        )
        self.assertContains(r, "An account with this email already exists")
        self.assertContains(r, "didn’t match")
        self.assertEqual(User.objects.filter(email="alice@example.org").count(), 1)

    def test_it_requires_a_name(self) -> None:
        r = self.client.post(
            self.url,
            {"email": "noname@example.org", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"},
        )
        self.assertContains(r, "This field is required.")
        self.assertFalse(User.objects.filter(email="noname@example.org").exists())


class LoginTestCase(ApiTestCase):
    url = "/accounts/login/"

    def test_it_logs_in_with_email_and_password(self) -> None:
        r = self.client.post(self.url, {"username": "alice@example.org", "password": "password-123"})
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)
        self.assertContains(self.client.get("/orgs/"), "Alice Org")

    def test_it_shows_an_error_for_a_wrong_password(self) -> None:
        r = self.client.post(self.url, {"username": "alice@example.org", "password": "wrong"})
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "Please enter a correct")
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_a_successful_login_applies_the_saved_language(self) -> None:
        User.objects.filter(pk=self.rita.pk).update(language="de")
        r = self.client.post(self.url, {"username": "rita@example.org", "password": "password-123"})
        self.assertEqual(r.cookies[settings.LANGUAGE_COOKIE_NAME].value, "de")
        self.assertContains(self.client.get("/orgs/"), "Organisationen")

    def test_it_locks_out_after_five_failures_even_with_the_right_password(self) -> None:
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self.client.post(self.url, {"username": "wendy@example.org", "password": "wrong"})
        r = self.client.post(self.url, {"username": "wendy@example.org", "password": "password-123"})
        self.assertEqual(r.status_code, 429)
        self.assertContains(r, "Too many failed logins", status_code=429)
        self.assertNotIn("_auth_user_id", self.client.session)
        # Another account from the same address is not locked (username + address together).
        r = self.client.post(self.url, {"username": "rita@example.org", "password": "password-123"})
        self.assertEqual(r.status_code, 302)

    def test_the_admin_login_is_locked_out_too(self) -> None:
        make_user("staff@example.org").__class__.objects.filter(email="staff@example.org").update(
            is_staff=True, is_superuser=True
        )
        for _ in range(settings.AXES_FAILURE_LIMIT):
            self.client.post("/admin/login/", {"username": "staff@example.org", "password": "wrong"})
        r = self.client.post(
            "/admin/login/?next=/admin/", {"username": "staff@example.org", "password": "password-123"}
        )
        self.assertEqual(r.status_code, 429)
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_a_logged_in_user_is_sent_on_to_their_organizations(self) -> None:
        self.client.force_login(self.alice)
        self.assertRedirects(self.client.get(self.url), "/orgs/", fetch_redirect_response=False)


class LogoutTestCase(ApiTestCase):
    def test_it_logs_out_with_a_post_only(self) -> None:
        self.client.force_login(self.alice)
        self.assertEqual(self.client.get("/accounts/logout/").status_code, 405)
        r = self.client.post("/accounts/logout/")
        self.assertRedirects(r, "/accounts/login/", fetch_redirect_response=False)
        self.assertRedirects(self.client.get("/orgs/"), "/accounts/login/?next=/orgs/")


class PasswordResetTestCase(ApiTestCase):
    def test_it_emails_a_link_that_sets_a_new_password(self) -> None:
        r = self.client.post("/accounts/password-reset/", {"email": "rita@example.org"})
        self.assertRedirects(r, "/accounts/password-reset/sent/")
        self.assertEqual(len(mail.outbox), 1)
        self.assertEqual(mail.outbox[0].to, ["rita@example.org"])
        link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.outbox[0].body).group(1)
        r = self.client.get(link, follow=True)
        self.assertContains(r, "Choose a new password")
        r = self.client.post(
            r.redirect_chain[-1][0], {"new_password1": "brand-new-secret-1", "new_password2": "brand-new-secret-1"}
        )
        self.assertRedirects(r, "/accounts/reset/done/")
        self.rita.refresh_from_db()
        self.assertTrue(self.rita.check_password("brand-new-secret-1"))

    def test_an_unknown_address_gets_the_same_answer_and_no_email(self) -> None:
        r = self.client.post("/accounts/password-reset/", {"email": "nobody@example.org"})
        self.assertRedirects(r, "/accounts/password-reset/sent/")
        self.assertEqual(mail.outbox, [])

    def test_a_used_or_wrong_link_says_so(self) -> None:
        r = self.client.get("/accounts/reset/MTIz/set-password/")
        self.assertContains(r, "This link does not work")


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

    def test_it_refuses_a_file_that_is_not_an_image(self) -> None:
        self.client.force_login(self.rita)
        fake = SimpleUploadedFile("me.png", b"not an image at all", content_type="image/png")
        r = self.client.post(self.url, {"name": "Rita", "language": "en", "avatar": fake})
        self.assertContains(r, "not a valid PNG, JPEG or WebP image")
        self.rita.refresh_from_db()
        self.assertEqual(self.rita.avatar.name, "")
        self.assertEqual(list(Path(self.media.name).rglob("*.*")), [])


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
            "/accounts/login/": {"username": "alice@example.org", "password": "password-123"},
            "/accounts/signup/": {"email": "c@example.org", "name": "C", "password1": "x", "password2": "x"},
            "/accounts/password-reset/": {"email": "alice@example.org"},
            "/i18n/setlang/": {"language": "de"},
        }
        for url, data in anonymous_forms.items():
            with self.subTest(url=url):
                self.assertEqual(client.post(url, data).status_code, 403)
        client.force_login(self.alice)
        for url, data in {"/accounts/profile/": {"name": "A", "language": "en"}, "/accounts/logout/": {}}.items():
            with self.subTest(url=url):
                self.assertEqual(client.post(url, data).status_code, 403)
        self.assertEqual(mail.outbox, [])

    def test_the_login_form_works_with_its_token(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.get("/accounts/login/")
        token = client.cookies[settings.CSRF_COOKIE_NAME].value
        r = client.post(
            "/accounts/login/",
            {"username": "alice@example.org", "password": "password-123", "csrfmiddlewaretoken": token},
        )
        self.assertEqual(r.status_code, 302)
