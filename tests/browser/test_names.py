"""People's text on the pages (issue 14, items 2 and 3): a name of 100 characters without a space
keeps every page at the window's width, in banners and forms too; a name with a right-to-left
override or another invisible control is refused wherever names are typed; a name that holds one
anyway (stored before the rule) is shown in its own isolate and reorders nothing around it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from organizations.models import ApiKey, Organization, User
from tests.base import make_key, make_user
from tests.browser import PASSWORD, log_in

pytestmark = pytest.mark.browser

LONG = "W" * 100  # the longest name allowed, and no space to break it at
RLO = "\u202e"


def page_overflow(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def test_a_100_character_name_keeps_every_page_at_the_window_width(
    alice_page: Page, alice: User, screenshot: Callable[[Page, str], None]
) -> None:
    page = alice_page
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 800})
        page.goto("/orgs/new/")
        page.fill("#id_name", LONG)
        page.click("#org-create-form button[type=submit]")
        banner = page.locator("#messages")
        expect(banner).to_contain_text(f"Organization {LONG} was created.")
        assert page_overflow(page) <= 0, f"members page after creating, {width}px"
        box = banner.bounding_box()
        assert box is not None and box["x"] + box["width"] <= width, "the banner overflows"
        org = Organization.objects.filter(name=LONG).order_by("-created_at").first()
        for path in ("/orgs/", f"/orgs/{org.id}/settings/", f"/orgs/{org.id}/audit/", "/keys/"):
            page.goto(path)
            assert page_overflow(page) <= 0, f"{path} at {width}px"
        # The key form lists the organization in a box of its own: it stays inside the form.
        form = page.locator("#apikey-create-form").bounding_box()
        label = page.locator("#id_limited_to_orgs label", has_text=LONG[:20]).first.bounding_box()
        assert form and label and label["x"] + label["width"] <= form["x"] + form["width"]
        screenshot(page, f"long-name-keys-{width}")
    # The full name is there to read (and to copy), not cut off.
    page.goto("/orgs/")
    expect(page.get_by_role("link", name=LONG).first).to_have_text(LONG)


def test_a_name_with_a_direction_override_is_refused_on_every_surface(
    alice_page: Page, alice: User, org: Organization, site: str, settings, new_page: Callable[..., Page]
) -> None:
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    page = alice_page
    sneaky = f"Acme {RLO}gpj.exe"
    message = "A name cannot contain control characters or invisible direction marks."

    page.goto("/orgs/new/")
    page.fill("#id_name", sneaky)
    page.click("#org-create-form button[type=submit]")
    expect(page.locator("#org-create-form .errorlist")).to_have_text(message)
    assert not Organization.objects.filter(name=sneaky).exists()

    page.goto(f"/orgs/{org.id}/settings/")
    page.fill("#org-general-form #id_name", sneaky)
    page.click("#general-submit")
    expect(page.locator("#org-general-form .errorlist")).to_have_text(message)
    page.goto("/keys/")
    page.fill("#id_name", sneaky)
    page.click("#create-key-submit")
    expect(page.locator("#apikey-create-form .errorlist")).to_have_text(message)
    page.goto(f"/orgs/{org.id}/webhooks/")
    page.fill("#webhook-create-form #id_name", sneaky)
    page.fill("#webhook-create-form #id_url", "https://hooks.example.org/x")
    page.locator("#webhook-create-form input[type=checkbox]").first.check()
    page.click("#webhook-create-form button[type=submit]")
    expect(page.locator("#webhook-create-form .errorlist").first).to_have_text(message)
    page.goto("/accounts/profile/")
    page.fill("#id_name", f"Alice{RLO}")
    page.click("#profile-form button[type=submit]")
    expect(page.locator("#profile-form .errorlist")).to_have_text(message)
    alice.refresh_from_db()
    assert alice.name == "Alice"

    # The API: 400 invalid_body for organization, API key and webhook names.
    _key, secret = make_key(alice)
    for method, path, body in (
        ("POST", "/organization/", {"name": sneaky}),
        ("PUT", "/organization/", {"orgId": org.id, "name": sneaky}),
        ("POST", "/apikey/", {"name": sneaky}),
        ("POST", "/webhooks/", {"orgId": org.id, "name": sneaky, "url": "https://hooks.example.org/x",
                                "events": ["orgs"]}),
    ):  # fmt: skip
        request = urllib.request.Request(
            f"{site}{path}", data=json.dumps(body).encode(), method=method,
            headers={"authorization": secret, "content-type": "application/json"},
        )  # fmt: skip
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 - the live server's http URL
        answer = json.load(refused.value)
        assert (refused.value.code, answer["code"]) == (400, "invalid_body"), (path, answer)
        assert "name" in answer["details"], answer
    assert not ApiKey.objects.filter(name=sneaky).exists()

    # The admin.
    make_user("sam@example.org", "Sam", password=PASSWORD)
    User.objects.filter(email="sam@example.org").update(is_staff=True, is_superuser=True)
    staff = new_page()
    log_in(staff, "sam@example.org")
    shown = staff.goto(f"/admin/organizations/organization/{org.id}/change/")
    # What the page was, if it is not the form (CI once timed out waiting for the field).
    assert shown is not None and shown.status == 200, (shown and shown.status, staff.url, staff.content()[:2000])
    staff.fill("#organization_form #id_name", sneaky, timeout=30_000)
    staff.click("input[name=_save]")
    expect(staff.locator(".errorlist").first).to_have_text(message)
    org.refresh_from_db()
    assert org.name == "Acme Rockets"


def test_a_stored_name_with_an_override_is_shown_in_its_own_isolate(alice_page: Page, org: Organization) -> None:
    Organization.objects.filter(pk=org.pk).update(name=f"Evil{RLO}Corp")  # from before the rule
    page = alice_page
    page.goto(f"/orgs/{org.id}/members/")
    heading = page.locator("#org-name bdi")
    expect(heading).to_have_text(f"Evil{RLO}Corp")
    # Isolated: the text after the name in the same sentence keeps its order.
    page.goto("/orgs/")
    cell = page.locator("#org-table tbody td").first
    assert cell.evaluate("td => td.querySelector('a > bdi') !== null")
    assert page.evaluate("getComputedStyle(document.querySelector('bdi')).unicodeBidi") == "isolate"
