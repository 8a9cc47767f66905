"""API keys in the browser: the secret is shown once, and it works against the API."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from organizations.models import ApiKey, Organization

pytestmark = pytest.mark.browser


def test_a_new_key_is_shown_once_and_opens_the_api(
    alice_page: Page, org: Organization, site: str, screenshot: Callable[[Page, str], None]
) -> None:
    page = alice_page
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.click("#nav-keys")
    expect(page.locator("#keys-section .empty")).to_have_text("You have no API keys yet.")
    form = page.locator("#apikey-create-form")
    form.locator("#id_name").fill("Deploy script")
    form.get_by_label("Write").check()
    form.locator("button[type=submit]").click()

    expect(page.locator("#secret-warning")).to_contain_text("Copy this key now. It will not be shown again.")
    secret = page.locator("#api-key-secret").input_value()
    assert len(secret) >= 32
    page.click("#copy-secret")
    expect(page.locator("#copy-secret")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "apikey-secret")

    request = urllib.request.Request(f"{site}/organization/", headers={"authorization": secret})
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the live server's http URL
        assert response.status == 200
        body = json.load(response)
    assert [(o["id"], o["name"]) for o in body["data"]] == [(org.id, org.name)]

    page.click("#secret-done")
    expect(page).to_have_url("/keys/")
    page.reload()
    row = page.locator("#keys-table tbody tr", has_text="Deploy script")
    expect(row).to_have_count(1)
    expect(page.locator("#api-key-secret")).to_have_count(0)
    assert secret not in page.content()
    # The key was used a moment ago: the list says when, not "Never".
    expect(row.locator("td[data-label='Last used']")).to_contain_text("UTC")
    screenshot(page, "apikeys")


def test_the_key_form_starts_safe_explains_each_mode_and_warns_before_a_policy_refuses(
    alice_page: Page, alice, org: Organization, screenshot: Callable[[Page, str], None]
) -> None:
    Organization.objects.filter(pk=org.pk).update(require_apikey_expiration=True, max_apikey_expiration_days=30)
    page = alice_page
    page.goto("/keys/")
    form = page.locator("#apikey-create-form")
    # The weakest mode, and an expiry every policy accepts, unless the owner picks otherwise.
    expect(form.get_by_label("Read", exact=True)).to_be_checked()
    expect(form.locator("#id_expires_in_days")).to_have_value("30")
    expect(form.get_by_label("All", exact=True)).to_have_attribute("aria-describedby", "id_mode_3_description")
    expect(form).to_contain_text("Everything your role allows, managing your API keys included (when not limited).")
    expect(form).to_contain_text(f"{org.name} (keys must expire within 30 days)")

    # A key that never expires: refused by Acme for every call about it. Said before it exists.
    form.locator("#id_name").fill("Forever")
    form.locator("#id_expires_in_days").fill("")
    page.click("#create-key-submit")
    warning = page.locator("#key-policy-warning")
    expect(warning).to_contain_text(f"Organization {org.name} requires API keys with an expiration date")
    assert not ApiKey.objects.filter(name="Forever").exists()
    expect(page.locator("#create-key-submit")).to_have_text("Create the key anyway")
    screenshot(page, "apikey-warning")
    page.click("#create-key-submit")
    expect(page.locator("#secret-warning")).to_be_visible()
    assert ApiKey.objects.get(name="Forever").expires_at is None

    # Limited to Acme with too long a life: refused, and the error is at the expiry field.
    page.goto("/keys/")
    form.locator("#id_name").fill("Long")
    form.get_by_label(org.name).check()
    form.locator("#id_expires_in_days").fill("90")
    page.click("#create-key-submit")
    field_errors = page.locator("#id_expires_in_days").locator("xpath=..").locator(".errorlist")
    expect(field_errors).to_have_text("API key expiration cannot exceed 30 days for this organization")
    expect(page.locator("#apikey-create-form > .errorlist")).to_have_count(0)  # not at the top
    expect(page.locator("#id_expires_in_days")).to_be_focused()
    assert not ApiKey.objects.filter(name="Long").exists()
