"""English and German: chosen from the browser, switchable, and a complete German catalogue."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core import mail
from django.utils.html import strip_tags

from organizations import services
from organizations.models import User
from organizations.roles import Principal, Role
from tests.base import ApiTestCase

PO_FILE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES" / "django.po"


def po_entries(path: Path) -> list[dict[str, object]]:
    """The entries of a .po file: flags, msgid and every msgstr (plural forms included)."""
    entries = []
    for block in path.read_text(encoding="utf-8").strip().split("\n\n"):
        entry: dict[str, object] = {"flags": [], "msgid": "", "msgstr": {}}
        key = None
        for line in block.splitlines():
            if line.startswith("#,"):
                entry["flags"] = [flag.strip() for flag in line[2:].split(",")]
            elif line.startswith("#"):
                continue
            elif line.startswith('"'):
                value = line[1:-1]
                if key == "msgid":
                    entry["msgid"] += value
                elif key == "msgid_plural":
                    entry["msgid_plural"] = entry.get("msgid_plural", "") + value
                elif key is not None and key.startswith("msgstr"):
                    entry["msgstr"][key] += value
            else:
                key, value = line.split(" ", 1)
                if key == "msgid":
                    entry["msgid"] = value[1:-1]
                elif key == "msgid_plural":
                    entry["msgid_plural"] = value[1:-1]
                elif key.startswith("msgstr"):
                    entry["msgstr"][key] = value[1:-1]
        entries.append(entry)
    return entries


class CatalogueTestCase(ApiTestCase):
    def test_every_german_entry_is_translated_and_none_is_fuzzy(self) -> None:
        entries = po_entries(PO_FILE)
        self.assertGreater(len(entries), 100)
        fuzzy = [e["msgid"] for e in entries if "fuzzy" in e["flags"]]
        untranslated = [e["msgid"] for e in entries[1:] if not all(e["msgstr"].values())]
        self.assertEqual(fuzzy, [])
        self.assertEqual(untranslated, [])

    def test_translations_keep_their_placeholders(self) -> None:
        placeholder = re.compile(r"%\(\w+\)[sd]|%[sd]")
        for entry in po_entries(PO_FILE)[1:]:
            if "python-format" not in entry["flags"]:
                continue
            singular = set(placeholder.findall(entry["msgid"]))
            both = singular | set(placeholder.findall(entry.get("msgid_plural", "")))
            for form, text in entry["msgstr"].items():
                with self.subTest(msgid=entry["msgid"], form=form):
                    found = set(placeholder.findall(text))
                    # The plural forms follow the English plural; the singular may spell the number out.
                    expected = singular if form in ("msgstr", "msgstr[0]") else both
                    self.assertTrue(found <= both and expected - found <= {"%d", "%(count)s", "%(count)d"})


class LanguageChoiceTestCase(ApiTestCase):
    def test_the_browser_language_picks_german(self) -> None:
        r = self.client.get("/accounts/login/", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
        self.assertContains(r, '<html lang="de">')
        self.assertContains(r, "<h1>Anmelden</h1>", html=True)
        self.assertContains(r, "Passwort vergessen?")
        self.assertNotContains(r, "Forgot your password?")

    def test_english_is_the_default(self) -> None:
        r = self.client.get("/accounts/login/", headers={"Accept-Language": "fr"})
        self.assertContains(r, "<h1>Log in</h1>", html=True)

    def test_the_switch_beats_the_browser(self) -> None:
        self.client.post("/i18n/setlang/", {"language": "en", "next": "/accounts/login/"})
        r = self.client.get("/accounts/login/", headers={"Accept-Language": "de"})
        self.assertContains(r, "<h1>Log in</h1>", html=True)
        self.client.post("/i18n/setlang/", {"language": "de", "next": "/accounts/login/"})
        self.assertContains(self.client.get("/accounts/login/"), "<h1>Anmelden</h1>", html=True)

    def test_the_switch_offers_both_languages_in_their_own_names_one_click_each(self) -> None:
        r = self.client.get("/accounts/login/")
        self.assertContains(
            r,
            '<button type="submit" name="language" value="en" lang="en" id="language-en" class="small"'
            ' aria-pressed="true">English</button>',
            html=True,
        )
        self.assertContains(
            r,
            '<button type="submit" name="language" value="de" lang="de" id="language-de" class="small"'
            ' aria-pressed="false">Deutsch</button>',
            html=True,
        )


class GermanPagesTestCase(ApiTestCase):
    def test_roles_and_service_messages_are_german(self) -> None:
        self.client.force_login(self.alice)
        self.client.post("/i18n/setlang/", {"language": "de"})
        r = self.client.get(f"/orgs/{self.org.id}/members/")
        self.assertContains(r, "Mitglieder")
        self.assertContains(r, '<option value="read" selected>Lesen</option>', html=True)
        r = self.client.post(f"/orgs/{self.org.id}/members/{self.alice.pk}/role/", {"role": "read"}, follow=True)
        self.assertContains(r, "Der letzte Super-Admin kann nicht entfernt werden")

    def test_a_form_error_is_german(self) -> None:
        self.client.force_login(self.adam)
        self.client.post("/i18n/setlang/", {"language": "de"})
        r = self.client.post(f"/orgs/{self.org.id}/delete/", {"name": "wrong"})
        self.assertContains(r, "Der Name stimmt nicht überein. Es wurde nichts gelöscht.")

    def test_the_invitation_email_goes_out_in_the_inviters_language(self) -> None:
        User.objects.filter(pk=self.alice.pk).update(language="de")
        self.alice.refresh_from_db()
        with self.captureOnCommitCallbacks(execute=True):
            services.member_invite(actor=Principal(self.alice), org=self.org, email="neu@example.org", role=Role.WRITE)
        message = mail.outbox[0]
        self.assertEqual(message.subject, "Einladung zu Alice Org")
        self.assertIn("mit der Rolle Schreiben beizutreten", message.body)
        self.assertIn("Einladung annehmen", message.alternatives[0][0])


DU = re.compile(r"\b(du|dein\w*|dich|dir|gib|kannst|hast|bist|möchtest|erhältst|bestätige|melde|klicke|wähle)\b", re.I)


class AccountPagesGermanTestCase(ApiTestCase):
    """allauth's pages in German say "Sie", as the rest of the site does, and are translated."""

    def visible_text(self, response: Any) -> str:
        return " ".join(html.unescape(strip_tags(response.content.decode())).split())

    def test_every_account_page_says_sie(self) -> None:
        client = self.client
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
        anonymous = ["/accounts/login/", "/accounts/signup/", "/accounts/password/reset/", "/accounts/confirm-email/",
                     "/accounts/password/reset/done/", "/accounts/password/reset/key/1-x/"]  # fmt: skip
        pages = {url: client.get(url, follow=True) for url in anonymous}
        pages["login error"] = client.post("/accounts/login/", {"login": "alice@example.org", "password": "wrong"})
        pages["signup error"] = client.post(
            "/accounts/signup/",
            {"email": "x@example.org", "name": "X", "password1": "a-long-pass-phrase", "password2": "another-one"},
        )
        client.post("/accounts/login/", {"login": "rita@example.org", "password": "password-123"})
        logged_in = [
            "/accounts/profile/", "/accounts/email/", "/accounts/password/change/", "/accounts/2fa/",
            "/accounts/sessions/", "/accounts/logout/", "/accounts/keys/review/", "/accounts/reauthenticate/",
        ]  # fmt: skip
        for url in logged_in:
            pages[url] = client.get(url)
        for name, response in pages.items():
            with self.subTest(page=name):
                self.assertEqual(response.status_code, 200)
                text = self.visible_text(response)
                self.assertEqual(DU.findall(text), [], text)
        self.assertIn("Anmelden", self.visible_text(pages["/accounts/login/"]))
        self.assertIn("Sie müssen zweimal dasselbe Passwort eingeben.", self.visible_text(pages["signup error"]))


class SieEverywhereTestCase(ApiTestCase):
    """Every page of ours and the admin say "Sie" in German, Django's and allauth's strings included."""

    def visible_text(self, response: Any) -> str:
        return " ".join(html.unescape(strip_tags(response.content.decode())).split())

    def test_the_organization_pages_and_the_admin_say_sie(self) -> None:
        services.member_invite(actor=Principal(self.alice), org=self.org, email="neu@example.org", role=Role.WRITE)
        User.objects.filter(pk=self.alice.pk).update(is_staff=True, is_superuser=True)
        client = self.client
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
        client.force_login(self.alice)
        org = self.org.id
        pages = [
            "/", "/orgs/", "/orgs/new/", f"/orgs/{org}/members/", f"/orgs/{org}/settings/", f"/orgs/{org}/audit/",
            f"/orgs/{org}/webhooks/", f"/orgs/{org}/delete/", f"/orgs/{org}/members/{self.wendy.pk}/remove/",
            f"/orgs/{org}/leave/", "/keys/", "/nowhere/",
            "/admin/", "/admin/organizations/organization/", f"/admin/organizations/organization/{org}/change/",
            "/admin/organizations/auditevent/", "/admin/organizations/membership/", "/admin/organizations/invitation/",
            "/admin/organizations/apikey/", "/admin/organizations/user/", "/admin/webhooks/webhook/",
            "/admin/organizations/email/", "/admin/password_change/", "/admin/django_tasks_database/dbtaskresult/",
            "/admin/accounts/secondfactor/", "/admin/accounts/session/",
        ]  # fmt: skip
        for url in pages:
            with self.subTest(url):
                response = client.get(url, follow=True)
                self.assertIn(response.status_code, (200, 404))
                text = self.visible_text(response)
                self.assertEqual(DU.findall(text), [], text)
        # Django's own form messages in German, through our forms.
        r = client.post("/orgs/new/", {"name": "ab"})
        self.assertIn("Bitte sicherstellen", self.visible_text(r))
        self.assertEqual(DU.findall(self.visible_text(r)), [])

    def test_the_admin_is_translated(self) -> None:
        User.objects.filter(pk=self.alice.pk).update(is_staff=True, is_superuser=True)
        self.client.cookies[settings.LANGUAGE_COOKIE_NAME] = "de"
        self.client.force_login(self.alice)
        text = self.visible_text(self.client.get("/admin/"))
        for english in ("Organizations", "Accounts", "Tasks", "Authenticators", "User sessions", "Django"):
            self.assertNotIn(english, text)
        sections = ["Verwaltung", "Organisationen", "Audit-Ereignisse", "Mitgliedschaften", "API-Schlüssel"]
        sections += ["Hintergrundaufgaben", "Aufgabenergebnisse", "Zweite Faktoren", "Sitzungen", "Anmeldungen"]
        for german in sections:
            self.assertIn(german, text)
        text = self.visible_text(self.client.get("/admin/organizations/auditevent/"))
        for german in (
            "Art des Datensatzes",
            "Mitglieder und Einladungen",
            "Erstellt",
            "vorgenommen von",
            "Was geschah",
        ):
            self.assertIn(german, text)
        for english in ("Django", "table name", "Insert", "Org Users", "ORGANIZATIONS", "Operation"):
            self.assertNotIn(english, text)
