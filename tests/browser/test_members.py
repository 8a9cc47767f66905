"""Invitations in the browser: invite by email, sign up through the emailed link, change the role."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from organizations.models import Organization, User
from tests.browser import log_in, sign_up

pytestmark = pytest.mark.browser

INVITEE = "ben@example.org"


def test_an_invited_person_signs_up_through_the_email_and_gets_a_new_role(
    alice_page: Page,
    alice: User,
    org: Organization,
    new_page: Callable[..., Page],
    screenshot: Callable[[Page, str], None],
) -> None:
    page = alice_page
    page.click("#nav-orgs")
    page.get_by_role("link", name=org.name, exact=True).click()
    invite = page.locator("#invite-form")
    invite.locator("#id_email").fill(INVITEE)
    invite.locator("#id_role").select_option("write")
    invite.locator("button[type=submit]").click()

    expect(page.locator("#messages")).to_contain_text(f"Invitation sent to {INVITEE}.")
    pending = page.locator(f'#invitations-table tr[data-email="{INVITEE}"]')
    expect(pending).to_contain_text("Write")
    expect(pending).to_contain_text("no account yet")
    screenshot(page, "members-invited")
    page.click("#nav-logout")
    expect(page.locator("#nav-login")).to_be_visible()

    assert len(mail.outbox) == 1
    email = mail.outbox[0]
    assert email.to == [INVITEE]
    assert org.name in email.subject
    link = re.search(r"http://\S+/invitations/\S+/", email.body)
    assert link is not None, email.body

    ben = new_page()
    ben.goto(link.group())
    expect(ben).to_have_url("/invitations/accept/")  # the token left the address bar
    expect(ben.locator("#invitation-text")).to_have_text(f"You are invited to join {org.name} as Write.")
    expect(ben.locator("#invitation")).to_contain_text("Invited by Alice.")
    screenshot(ben, "invitation")
    ben.click("#invitation-signup")
    expect(ben.locator("#id_email")).to_have_value(INVITEE)
    sign_up(ben, "Ben Invited", verified_by_link=True)  # the link proved the address
    ben.click("#accept-invitation")

    expect(ben.locator("#messages")).to_contain_text(f"You joined {org.name}.")
    expect(ben.locator("#my-role")).to_have_text("Write")
    ben.click("#nav-orgs")
    row = ben.locator("#org-table tbody tr", has_text=org.name)
    expect(row.locator(".badge")).to_have_text("Write")

    log_in(page, alice.email)
    page.get_by_role("link", name=org.name, exact=True).click()
    member = page.locator(f'#members-table tr[data-email="{INVITEE}"]')
    expect(member).to_contain_text("Ben Invited")
    expect(page.locator(f'#invitations-table tr[data-email="{INVITEE}"]')).to_have_count(0)
    ben_id = User.objects.get(email=INVITEE).pk
    role = page.locator(f"#role-{ben_id}")
    expect(role).to_have_value("write")

    # htmx swaps the page's main part in place: a marker set on this document survives.
    page.evaluate("window.stillTheSameDocument = true")
    role.select_option("admin")
    with page.expect_response(lambda response: response.url.endswith(f"/members/{ben_id}/role/")) as answer:
        member.get_by_role("button", name="Change role").click()
    assert answer.value.request.headers.get("hx-request") == "true"
    expect(page.locator("#messages")).to_contain_text(f"{INVITEE} is now Admin.")
    expect(page.locator(f"#role-{ben_id}")).to_have_value("admin")
    assert page.evaluate("window.stillTheSameDocument") is True
    screenshot(page, "members-role-changed")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "members-phone")

    page.reload()
    expect(page.locator(f"#role-{ben_id}")).to_have_value("admin")
