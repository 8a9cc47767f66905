"""API keys in the browser: the secret is shown once, and it works against the API."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from organizations.models import Organization

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
