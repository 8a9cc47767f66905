"""Organizations in the browser: sign up and create one, upload a logo, delete one by its name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Locator, Page, expect

from organizations.models import Organization
from tests.browser import sign_up

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], None]


def org_row(page: Page, name: str) -> Locator:
    return page.locator("#org-table tbody tr", has=page.get_by_role("link", name=name, exact=True))


def test_a_new_user_signs_up_and_creates_an_organization(visitor: Page, screenshot: Screenshot) -> None:
    page = visitor
    page.goto("/")
    page.click("#nav-signup")
    expect(page.get_by_role("heading", name="Sign up")).to_be_visible()
    screenshot(page, "signup")
    sign_up(page, "Nora New", email="nora@example.org")

    expect(page).to_have_url("/orgs/")
    expect(page.locator("#messages")).to_contain_text("Your address nora@example.org is confirmed.")
    expect(page.locator(".empty")).to_have_text("You are not a member of any organization yet.")

    page.click("#create-org")
    expect(page.get_by_role("heading", name="Create an organization")).to_be_visible()
    page.fill("#id_name", "Nora Labs")
    screenshot(page, "org-create")
    page.click("#org-create-form button[type=submit]")

    expect(page.locator("#org-name")).to_have_text("Nora Labs")
    expect(page.locator("#messages")).to_have_text("Organization Nora Labs was created. Invite your team")
    expect(page.locator("#my-role")).to_have_text("Super admin")
    nora = page.locator('#members-table tr[data-email="nora@example.org"]')
    expect(nora).to_contain_text("Nora New")
    screenshot(page, "org-created")

    page.click("#nav-orgs")
    row = org_row(page, "Nora Labs")
    expect(row).to_have_count(1)
    badge = row.locator(".badge")
    expect(badge).to_have_text("Super admin")
    expect(badge).to_have_class("badge role-super_admin")
    screenshot(page, "org-list")


def test_an_uploaded_logo_is_shown_on_the_organization_pages(
    alice_page: Page, org: Organization, screenshot: Screenshot, tmp_path: Path
) -> None:
    page = alice_page
    logo = tmp_path / "logo.png"
    Image.new("RGB", (48, 32), (220, 60, 40)).save(logo)

    page.click("#nav-orgs")
    page.get_by_role("link", name=org.name, exact=True).click()
    expect(page.locator("#org-logo")).to_have_count(0)
    page.click("#tab-settings")
    expect(page.get_by_role("heading", name="Logo", exact=True)).to_be_visible()
    # No logo yet: the section says so, and offers no "Remove" for what is not there.
    expect(page.locator("#no-logo")).to_be_visible()
    expect(page.locator("#logo-remove")).to_have_count(0)
    page.set_input_files("#id_logo", logo)
    page.click("#logo-submit")

    expect(page.locator("#messages")).to_have_text("The logo was saved.")
    expect(page.locator("#settings-logo")).to_be_visible()  # the preview of the current logo
    image = page.locator("#org-logo")
    expect(image).to_be_visible()
    expect(image).to_have_attribute("alt", f"Logo of {org.name}")
    # The stored, re-encoded file is served: the browser decodes it at its own size.
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [48, 32]
    screenshot(page, "org-settings")
    src = image.get_attribute("src")

    page.click("#nav-orgs")
    expect(org_row(page, org.name).locator("img.logo")).to_have_attribute("src", src)

    page.goto(f"/orgs/{org.id}/settings/")
    page.click("#logo-remove")
    expect(page.locator("#messages")).to_have_text("The logo was removed.")
    expect(page.locator("#no-logo")).to_be_visible()
    expect(page.locator("#org-logo")).to_have_count(0)


def test_the_settings_are_sections_that_each_save_on_their_own(
    alice_page: Page, org: Organization, screenshot: Screenshot
) -> None:
    page = alice_page
    page.goto(f"/orgs/{org.id}/settings/")
    headings = page.locator("main section.settings-section > h2").all_inner_texts()
    # In this order, with the sections later features add before the danger zone, which stays last.
    known = ["General", "Logo", "API key policy", "Security", "Webhooks"]
    assert [h for h in headings if h in known] == known and headings.index("Webhooks") == 4
    assert headings[-1] == "Danger zone"
    page.click("#general-submit")
    expect(page.locator("#messages")).to_have_text("Nothing changed.")  # not "saved"
    page.fill("#org-general-form #id_name", "Acme Rockets Ltd")
    page.click("#general-submit")
    expect(page.locator("#messages")).to_have_text("The general settings were saved.")
    expect(page.locator("#org-name")).to_have_text("Acme Rockets Ltd")
    page.check("#id_require_apikey_expiration")
    page.fill("#id_max_apikey_expiration_days", "30")
    page.click("#api-keys-submit")
    expect(page.locator("#messages")).to_have_text("The API key policy was saved.")
    org.refresh_from_db()
    assert (org.name, org.require_apikey_expiration, org.max_apikey_expiration_days) == ("Acme Rockets Ltd", True, 30)
    screenshot(page, "org-settings-sections")


def test_the_organization_id_is_shown_with_a_copy_button_and_the_api_docs(alice_page: Page, org: Organization) -> None:
    page = alice_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(f"/orgs/{org.id}/settings/")
    expect(page.locator("#settings-org-id")).to_have_text(org.id)
    page.click("#copy-org-id")
    expect(page.locator("#copy-org-id")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == org.id
    # Every member sees it in the organization's header, with the way to the API documentation.
    page.goto(f"/orgs/{org.id}/members/")
    expect(page.locator("#org-id")).to_have_text(org.id)
    page.click("#api-docs-link")
    expect(page).to_have_url("/api/docs/")


def test_an_organization_is_deleted_only_when_its_name_is_typed(
    alice_page: Page, org: Organization, screenshot: Screenshot
) -> None:
    page = alice_page
    page.click("#nav-orgs")
    page.get_by_role("link", name=org.name, exact=True).click()
    page.click("#tab-settings")
    page.click("#delete-org-link")  # in the danger zone, the last section
    form = page.locator("#org-delete-form")
    expect(form).to_contain_text(f"Type the name of the organization, {org.name}, to confirm.")

    form.locator("#id_name").fill("Acme Rocket")
    form.locator("button[type=submit]").click()
    expect(form.locator(".errorlist")).to_have_text("The name does not match. Nothing was deleted.")
    expect(page.locator("#org-name")).to_have_text(org.name)
    screenshot(page, "org-delete")
    page.click("#nav-orgs")
    expect(org_row(page, org.name)).to_have_count(1)

    page.goto(f"/orgs/{org.id}/delete/")
    page.fill("#org-delete-form #id_name", org.name)
    page.click("#org-delete-form button[type=submit]")

    expect(page).to_have_url("/orgs/")
    expect(page.locator("#messages")).to_contain_text(f"Organization {org.name} was deleted.")
    expect(page.locator("#org-table")).to_have_count(0)
    expect(page.locator(".empty")).to_have_text("You are not a member of any organization yet.")
