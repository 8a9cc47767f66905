"""Languages in the browser: German from the browser's preference, and from the switcher."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from organizations.models import Organization

pytestmark = pytest.mark.browser


def test_the_language_switcher_turns_the_pages_german(
    alice_page: Page, org: Organization, screenshot: Callable[[Page, str], None]
) -> None:
    page = alice_page
    page.click("#nav-orgs")
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    page.select_option("#language-select", "de")
    page.click("#language-submit")

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
