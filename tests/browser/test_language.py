"""Languages in the browser: German from the browser's preference, and from the switcher."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from organizations.models import Organization, User
from tests.base import make_user
from tests.browser import PASSWORD, log_in

pytestmark = pytest.mark.browser


def test_the_language_switcher_turns_the_pages_german(
    alice_page: Page, org: Organization, screenshot: Callable[[Page, str], None]
) -> None:
    page = alice_page
    page.click("#nav-orgs")
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    expect(page.locator("#language-en")).to_have_attribute("aria-pressed", "true")
    page.click("#language-de")  # one click: no select, no second button

    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_role("heading", name="Organisationen")).to_be_visible()
    expect(page.locator("#nav-keys")).to_have_text("API-Schlüssel")
    expect(page.locator("#create-org")).to_have_text("Organisation erstellen")
    expect(page.locator("#org-table tbody tr", has_text=org.name).locator(".badge")).to_have_text("Super-Admin")
    screenshot(page, "org-list-de")

    # The choice sticks as the user moves on.
    page.get_by_role("link", name=org.name, exact=True).click()
    expect(page.locator("#tab-members")).to_have_text("Mitglieder")


def test_a_browser_that_prefers_german_gets_german_pages(new_page: Callable[..., Page]) -> None:
    page = new_page(locale="de-DE")
    page.goto("/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("#nav-login")).to_have_text("Anmelden")


def test_the_admin_is_german_and_branded_for_a_german_speaker(
    new_page: Callable[..., Page], screenshot: Callable[[Page, str], None], org: Organization
) -> None:
    staff = make_user("sam@example.org", "Sam", password=PASSWORD)
    User.objects.filter(pk=staff.pk).update(is_staff=True, is_superuser=True, language="de")
    page = new_page(locale="de-DE")
    log_in(page, staff.email)
    page.goto("/admin/")
    expect(page).to_have_title("Verwaltung | capgo-org")
    expect(page.locator("#site-name")).to_have_text("capgo-org")
    expect(page.locator("#content-main")).to_contain_text("Organisationen")
    expect(page.locator("#content-main")).to_contain_text("Audit-Ereignisse")
    page.goto("/admin/organizations/auditevent/")
    headers = page.locator("#result_list thead th").all_inner_texts()
    assert [h.strip().lower() for h in headers] == ["zeit", "was geschah", "organisation", "e-mail-adresse der person"]
    expect(page.locator("#changelist-filter")).to_contain_text("Nach Art des Datensatzes")
    expect(page.locator("#changelist-filter")).to_contain_text("Mitglieder und Einladungen")
    expect(page.locator("#result_list")).to_contain_text("hat die Organisation Acme Rockets erstellt.")
    for english in ("Django", "table name", "Insert", "Org Users", "ORGANIZATIONS"):
        expect(page.locator("body")).not_to_contain_text(english)
    screenshot(page, "admin-audit-de")
