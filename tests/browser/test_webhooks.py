"""Webhooks in the browser: create one, copy its secret, send a test to a real receiver, read the log."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Page, expect
from standardwebhooks.webhooks import Webhook as StandardWebhook

from organizations.models import Organization
from tests.receiver import Receiver

pytestmark = pytest.mark.browser


@pytest.fixture
def receiver(settings) -> Iterator[Receiver]:  # noqa: ANN001
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True  # the receiver is on loopback
    with Receiver() as running:
        yield running


def test_an_admin_creates_a_webhook_sends_a_test_and_sees_it_in_the_log(
    alice_page: Page, org: Organization, receiver: Receiver, screenshot: Callable[[Page, str], None]
) -> None:
    page = alice_page
    page.click("#nav-orgs")
    page.get_by_role("link", name=org.name, exact=True).click()
    page.click("#tab-webhooks")
    expect(page.locator("#webhooks-section")).to_contain_text("No webhooks yet.")
    form = page.locator("#webhook-create-form")
    form.locator("#id_name").fill("CRM sync")
    form.locator("#id_url").fill(receiver.url())
    form.get_by_label("Members and invitations (org_users)").check()
    form.locator("button[type=submit]").click()

    expect(page.locator("#secret-warning")).to_contain_text("It will not be shown again")
    secret = page.locator("#webhook-secret").input_value()
    assert secret.startswith("whsec_")
    expect(page.locator("#verify-example")).to_contain_text("verify")
    screenshot(page, "webhook-secret")
    page.click("#secret-done")

    expect(page.locator("#webhook-name")).to_have_text("CRM sync")
    expect(page.locator("body")).not_to_contain_text(secret)
    page.click("#webhook-send-test")
    expect(page.locator("#messages")).to_contain_text("The test was delivered: HTTP 200.")
    row = page.locator("#deliveries-table tbody tr").first
    expect(row).to_contain_text("test.ping")
    expect(row).to_contain_text("Success")
    expect(row).to_contain_text("HTTP 200")
    row.locator("summary").click()
    expect(row.locator(".response-preview")).to_have_text("ok")
    screenshot(page, "webhook-log")

    [request] = receiver.requests
    assert StandardWebhook(secret).verify(request.body, request.headers)["event"] == "test.ping"
    page.click("#tab-webhooks")
    expect(page.locator("#webhooks-table")).to_contain_text("1 delivered")
