"""Organization pages: my list, create, settings (with the logo upload), delete by typing the name."""

from __future__ import annotations

import io
import re
import struct
import tempfile
import zlib
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from PIL import Image

from organizations.models import AuditEvent, Membership, Organization
from organizations.roles import Role
from tests.base import ApiTestCase


def image_bytes(size: tuple[int, int] = (8, 8), fmt: str = "PNG", **save: object) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, "blue").save(out, format=fmt, **save)
    return out.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A small, valid-looking PNG whose header claims `width`×`height` pixels (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    rows = zlib.compress(b"\0" * (width // 8 + 2) * 64)  # a few rows; the header is what matters
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


class OrgListTestCase(ApiTestCase):
    def test_anonymous_is_sent_to_log_in(self) -> None:
        self.assertRedirects(self.client.get("/orgs/"), "/accounts/login/?next=/orgs/")

    def test_it_lists_my_organizations_with_my_role_only(self) -> None:
        self.client.force_login(self.wendy)
        r = self.client.get("/orgs/")
        self.assertContains(r, "Alice Org")
        self.assertContains(r, '<span class="badge role-write">Write</span>', html=True)
        self.assertNotContains(r, "Oscar Org")

    def test_someone_without_organizations_is_told_so(self) -> None:
        Membership.objects.filter(user=self.rita).delete()
        self.client.force_login(self.rita)
        self.assertContains(self.client.get("/orgs/"), "You are not a member of any organization yet.")


class OrgCreateTestCase(ApiTestCase):
    url = "/orgs/new/"

    def test_anonymous_is_sent_to_log_in(self) -> None:
        self.assertRedirects(self.client.get(self.url), "/accounts/login/?next=/orgs/new/")

    def test_it_creates_the_organization_with_me_as_super_admin(self) -> None:
        self.client.force_login(self.rita)
        r = self.client.post(self.url, {"name": "  Rita's Lab  ", "website": "rita.dev"})
        org = Organization.objects.get(name="Rita's Lab")
        self.assertRedirects(r, f"/orgs/{org.id}/members/", fetch_redirect_response=False)
        self.assertEqual(org.management_email, "rita@example.org")
        self.assertEqual(org.website, "https://rita.dev/")
        self.assertEqual(Membership.objects.get(organization=org).role, Role.SUPER_ADMIN)
        self.assertTrue(AuditEvent.objects.filter(org_id=org.id, table_name="orgs", operation="INSERT").exists())
        self.assertSays(
            self.client.get(f"/orgs/{org.id}/members/"), "Organization Rita's Lab was created. Invite your team"
        )

    def test_it_refuses_a_short_name_and_a_bad_website(self) -> None:
        self.client.force_login(self.rita)
        r = self.client.post(self.url, {"name": "ab", "website": "ftp://x.dev"})
        self.assertContains(r, "Ensure this value has at least 3 characters")
        self.assertContains(r, "Enter an http or https website address")
        self.assertFalse(Organization.objects.filter(name="ab").exists())


class OrgSettingsTestCase(ApiTestCase):
    def setUp(self) -> None:
        self.url = f"/orgs/{self.org.id}/settings/"
        self.media = tempfile.TemporaryDirectory()
        self.addCleanup(self.media.cleanup)
        media_settings = override_settings(MEDIA_ROOT=self.media.name)
        media_settings.enable()
        self.addCleanup(media_settings.disable)

    def form(self, section: str = "general", **changes: object) -> dict[str, object]:
        """What one section of the page posts: its current values, with `changes`."""
        data: dict[str, dict[str, object]] = {
            "general": {"name": self.org.name, "management_email": self.org.management_email, "website": ""},
            "logo": {"logo_url": ""},
            "api_keys": {"max_apikey_expiration_days": ""},
        }
        return {"section": section, **data[section], **changes}

    def stored_files(self) -> list[Path]:
        return [p for p in Path(self.media.name).rglob("*") if p.is_file()]

    def test_it_checks_access(self) -> None:
        self.assertRedirects(self.client.get(self.url), f"/accounts/login/?next={self.url}")
        self.client.force_login(self.oscar)
        self.assertEqual(self.client.get(self.url).status_code, 404)
        self.assertEqual(self.client.post(self.url, self.form(name="Taken")).status_code, 404)
        for member in (self.wendy, self.rita):
            self.client.force_login(member)
            self.assertEqual(self.client.get(self.url).status_code, 403)
            self.assertEqual(self.client.post(self.url, self.form(name="Taken")).status_code, 403)
        self.org.refresh_from_db()
        self.assertEqual(self.org.name, "Alice Org")

    def test_an_admin_sees_the_current_values(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.get(self.url)
        self.assertContains(r, 'value="Alice Org"')
        self.assertContains(r, 'value="alice@example.org"')
        self.assertContains(r, 'id="tab-settings"')

    def test_it_saves_the_settings_through_the_service(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(self.url, self.form(name="Renamed Org", website="HTTPS://Renamed.dev"))
        self.assertRedirects(r, self.url, fetch_redirect_response=False)
        self.assertSays(self.client.get(self.url), "The general settings were saved.")
        r = self.client.post(
            self.url, self.form("api_keys", require_apikey_expiration="on", max_apikey_expiration_days="30")
        )
        self.assertRedirects(r, self.url, fetch_redirect_response=False)
        self.assertSays(self.client.get(self.url), "The API key policy was saved.")
        self.org.refresh_from_db()
        self.assertEqual(self.org.name, "Renamed Org")
        self.assertEqual(self.org.website, "https://renamed.dev/")
        self.assertTrue(self.org.require_apikey_expiration)
        self.assertEqual(self.org.max_apikey_expiration_days, 30)
        first, second = AuditEvent.objects.filter(org_id=self.org.id, table_name="orgs", operation="UPDATE").order_by(
            "id"
        )
        self.assertEqual((first.actor_user_email, second.actor_user_email), ("adam@example.org", "adam@example.org"))
        self.assertEqual(first.changed_fields, ["name", "website"])
        self.assertEqual(second.changed_fields, ["max_apikey_expiration_days", "require_apikey_expiration"])

    def test_saving_a_section_unchanged_says_nothing_changed_and_writes_no_event(self) -> None:
        self.client.force_login(self.adam)
        events = AuditEvent.objects.filter(org_id=self.org.id).count()
        for section in ("general", "logo", "api_keys"):
            with self.subTest(section):
                r = self.client.post(self.url, self.form(section), follow=True)
                self.assertSays(r, "Nothing changed.")
                self.assertNotIn("were saved", r.content.decode())
        self.assertEqual(AuditEvent.objects.filter(org_id=self.org.id).count(), events)

    def test_each_section_keeps_its_own_errors_and_the_others_their_values(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(self.url, self.form(name="ab"))
        self.assertContains(r, "Ensure this value has at least 3 characters")
        self.assertContains(r, 'value="ab"')
        self.assertContains(r, 'id="org-api-keys-form"')
        self.org.refresh_from_db()
        self.assertEqual(self.org.name, "Alice Org")

    def test_an_unknown_section_is_refused(self) -> None:
        self.client.force_login(self.adam)
        self.assertEqual(self.client.post(self.url, {"section": "everything", "name": "Taken"}).status_code, 400)
        self.org.refresh_from_db()
        self.assertEqual(self.org.name, "Alice Org")

    def test_the_organization_id_is_shown_with_a_copy_button_and_the_api_docs_link(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.get(self.url)
        self.assertContains(r, f'<code id="settings-org-id">{self.org.id}</code>', html=True)
        self.assertContains(r, 'data-copy-target="settings-org-id"')
        self.assertContains(r, 'href="/api/docs/"')
        # Every member needs the id for the API: the header of every tab shows it.
        self.client.force_login(self.rita)
        self.assertContains(
            self.client.get(f"/orgs/{self.org.id}/members/"), f'<code id="org-id">{self.org.id}</code>', html=True
        )

    def test_the_sections_come_in_order_with_the_danger_zone_last(self) -> None:
        self.client.force_login(self.adam)
        page = self.client.get(self.url).content.decode()
        ids = re.findall(r'<section class="card settings-section[^"]*" id="([^"]+)"', page)
        self.assertEqual([i for i in ids if i != "sso"][:5], ["general", "logo", "api-keys", "security", "webhooks"])
        self.assertEqual(ids[-1], "danger-zone")

    def test_it_refuses_an_http_logo_url_and_an_out_of_range_lifetime(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(self.url, self.form("logo", logo_url="http://cdn.example/logo.png"))
        self.assertContains(r, "The logo address must be an https URL.")
        r = self.client.post(self.url, self.form("api_keys", max_apikey_expiration_days="0"))
        self.assertContains(r, "Ensure this value is greater than or equal to 1.")
        self.org.refresh_from_db()
        self.assertIsNone(self.org.logo_url)

    def test_an_https_logo_url_is_shown(self) -> None:
        self.client.force_login(self.adam)
        self.assertContains(self.client.get(self.url), 'id="no-logo"')
        self.assertNotContains(self.client.get(self.url), 'id="logo-remove"')
        self.client.post(self.url, self.form("logo", logo_url="https://cdn.example/logo.png"))
        r = self.client.get(self.url)
        self.assertContains(r, '<img class="logo large" id="settings-logo" src="https://cdn.example/logo.png"')
        self.assertContains(r, 'id="logo-remove"')

    def test_an_uploaded_png_is_stored_shown_and_exposed_by_the_api(self) -> None:
        self.client.force_login(self.adam)
        logo = SimpleUploadedFile("logo.png", image_bytes((16, 16)), content_type="image/png")
        r = self.client.post(self.url, self.form("logo", logo=logo))
        self.assertRedirects(r, self.url, fetch_redirect_response=False)
        self.org.refresh_from_db()
        name = self.org.logo_file.name
        self.assertRegex(name, rf"^logos/{self.org.id}/[0-9a-f]{{16}}\.png$")
        self.assertEqual(self.stored_files(), [Path(self.media.name) / name])
        self.assertContains(self.client.get(self.url), f'src="/media/{name}"')
        api = self.client.get("/organization/", {"orgId": self.org.id})
        self.assertEqual(api.json()["data"]["logo"], f"http://testserver/media/{name}")
        served = self.client.get(f"/media/{name}")
        self.assertEqual(served.status_code, 200)
        self.assertEqual(served["Content-Type"], "image/png")
        self.assertEqual(Image.open(io.BytesIO(b"".join(served.streaming_content))).size, (16, 16))

    def test_a_new_upload_replaces_the_old_file(self) -> None:
        self.client.force_login(self.adam)
        for _ in range(2):
            logo = SimpleUploadedFile("logo.png", image_bytes(), content_type="image/png")
            with self.captureOnCommitCallbacks(execute=True):  # the old file goes once the change commits
                self.client.post(self.url, self.form("logo", logo=logo))
        self.org.refresh_from_db()
        self.assertEqual(self.stored_files(), [Path(self.media.name) / self.org.logo_file.name])

    def test_a_jpeg_is_re_encoded_without_its_metadata(self) -> None:
        exif = Image.Exif()
        exif[0x010F] = "SecretCam"  # Make
        self.client.force_login(self.adam)
        logo = SimpleUploadedFile("photo.JPG", image_bytes((20, 10), "JPEG", exif=exif), content_type="image/jpeg")
        self.client.post(self.url, self.form("logo", logo=logo))
        self.org.refresh_from_db()
        self.assertTrue(self.org.logo_file.name.endswith(".webp"))
        stored = (Path(self.media.name) / self.org.logo_file.name).read_bytes()
        self.assertNotIn(b"SecretCam", stored)
        self.assertEqual(Image.open(io.BytesIO(stored)).size, (20, 10))

    def test_removing_the_logo_clears_the_file(self) -> None:
        self.client.force_login(self.adam)
        self.client.post(self.url, self.form("logo", logo=SimpleUploadedFile("l.png", image_bytes(), "image/png")))
        with self.captureOnCommitCallbacks(execute=True):
            r = self.client.post(self.url, {"section": "logo", "remove_logo": "on"}, follow=True)
        self.assertSays(r, "The logo was removed.")
        self.assertContains(r, 'id="no-logo"')
        self.org.refresh_from_db()
        self.assertEqual(self.org.logo_file.name, "")
        self.assertEqual(self.stored_files(), [])

    def test_bad_uploads_get_a_form_error_and_nothing_is_stored(self) -> None:
        cases = {
            "a text file named .png": (
                SimpleUploadedFile("logo.png", b"hello, I am text", "image/png"),
                "not a valid PNG, JPEG or WebP image",
            ),
            "a decompression bomb": (
                SimpleUploadedFile("bomb.png", png_declaring(14000, 14000), "image/png"),
                "The image declares too many pixels.",
            ),
            "a header in Pillow's warning range (10000×10000)": (
                SimpleUploadedFile("warn.png", png_declaring(10000, 10000), "image/png"),
                "The image declares too many pixels.",
            ),
            "a 2000×2000 image": (
                SimpleUploadedFile("big.png", image_bytes((2000, 2000)), "image/png"),
                "The image is 2000×2000 pixels. The limit is 1024×1024.",
            ),
            "a file over 2 MB": (
                SimpleUploadedFile("huge.png", image_bytes() + b"\0" * (2 * 1024 * 1024), "image/png"),
                "The image is too large",
            ),
            "an SVG": (
                SimpleUploadedFile("logo.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/svg+xml"),
                "Upload a PNG, JPEG or WebP image.",
            ),
            "an SVG named .png": (
                SimpleUploadedFile("logo.png", b'<svg xmlns="http://www.w3.org/2000/svg"/>', "image/png"),
                "not a valid PNG, JPEG or WebP image",
            ),
            "a JPEG named .png": (
                SimpleUploadedFile("logo.png", image_bytes(fmt="JPEG"), "image/png"),
                "The file extension does not match the image inside.",
            ),
            "a GIF": (
                SimpleUploadedFile("logo.gif", image_bytes(fmt="GIF"), "image/gif"),
                "Upload a PNG, JPEG or WebP",
            ),
        }
        self.assertLess(len(cases["a decompression bomb"][0]), 30_000)
        self.client.force_login(self.adam)
        for label, (upload, message) in cases.items():
            with self.subTest(label):
                r = self.client.post(self.url, self.form("logo", logo=upload))
                self.assertEqual(r.status_code, 200)
                self.assertContains(r, message)
                self.org.refresh_from_db()
                self.assertEqual((self.org.name, self.org.logo_file.name), ("Alice Org", ""))
                self.assertEqual(self.stored_files(), [])

    def test_the_real_decompression_bomb_is_refused_from_its_header(self) -> None:
        # A genuine 14000×14000 PNG (about 24 KB compressed) rather than a hand-made header.
        out = io.BytesIO()
        Image.new("1", (14000, 14000)).save(out, format="PNG")
        self.client.force_login(self.adam)
        r = self.client.post(
            self.url, self.form("logo", logo=SimpleUploadedFile("bomb.png", out.getvalue(), "image/png"))
        )
        self.assertContains(r, "The image declares too many pixels.")
        self.assertEqual(self.stored_files(), [])


class OrgDeleteTestCase(ApiTestCase):
    def setUp(self) -> None:
        self.url = f"/orgs/{self.org.id}/delete/"

    def test_it_checks_access(self) -> None:
        self.assertRedirects(self.client.get(self.url), f"/accounts/login/?next={self.url}")
        self.client.force_login(self.oscar)
        self.assertEqual(self.client.post(self.url, {"name": "Alice Org"}).status_code, 404)
        self.client.force_login(self.wendy)
        self.assertEqual(self.client.get(self.url).status_code, 403)
        self.assertEqual(self.client.post(self.url, {"name": "Alice Org"}).status_code, 403)
        self.assertTrue(Organization.objects.filter(pk=self.org.pk).exists())

    def test_the_danger_zone_at_the_end_of_the_settings_leads_here(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.get(f"/orgs/{self.org.id}/settings/")
        self.assertContains(r, f'<a class="button danger" href="{self.url}" id="delete-org-link">', html=False)
        self.assertNotContains(r, 'id="tab-delete"')

    def test_a_wrong_name_is_a_form_error_and_deletes_nothing(self) -> None:
        self.client.force_login(self.adam)
        self.assertContains(self.client.get(self.url), "Type the name of the organization")
        for wrong in ("alice org", "Alice Org ", "Alice"):
            with self.subTest(wrong):
                r = self.client.post(self.url, {"name": wrong})
                self.assertContains(r, "The name does not match. Nothing was deleted.")
        self.assertTrue(Organization.objects.filter(pk=self.org.pk).exists())

    def test_the_exact_name_deletes_the_organization_and_keeps_the_audit_log(self) -> None:
        self.client.force_login(self.adam)
        r = self.client.post(self.url, {"name": "Alice Org"})
        self.assertRedirects(r, "/orgs/", fetch_redirect_response=False)
        self.assertFalse(Organization.objects.filter(pk=self.org.pk).exists())
        self.assertTrue(AuditEvent.objects.filter(org_id=self.org.id, table_name="orgs", operation="DELETE").exists())
        self.assertSays(self.client.get("/orgs/"), "Organization Alice Org was deleted.")


class OrgDetailTestCase(ApiTestCase):
    def test_the_organization_address_leads_to_its_members(self) -> None:
        self.client.force_login(self.rita)
        r = self.client.get(f"/orgs/{self.org.id}/")
        self.assertRedirects(r, f"/orgs/{self.org.id}/members/", fetch_redirect_response=False)
        self.client.force_login(self.oscar)
        self.assertEqual(self.client.get(f"/orgs/{self.org.id}/").status_code, 404)
        self.assertEqual(self.client.get("/orgs/org_doesnotexist/").status_code, 404)


class OrgCsrfTestCase(ApiTestCase):
    def test_every_organization_form_needs_the_csrf_token(self) -> None:
        client = Client(enforce_csrf_checks=True)
        client.force_login(self.alice)
        forms = {
            "/orgs/new/": {"name": "Sneaky Org"},
            f"/orgs/{self.org.id}/settings/": {
                "section": "general",
                "name": "Sneaky",
                "management_email": "a@example.org",
            },
            f"/orgs/{self.org.id}/delete/": {"name": "Alice Org"},
        }
        for url, data in forms.items():
            with self.subTest(url=url):
                self.assertEqual(client.post(url, data).status_code, 403)
        self.org.refresh_from_db()
        self.assertEqual(self.org.name, "Alice Org")
        self.assertFalse(Organization.objects.filter(name="Sneaky Org").exists())
