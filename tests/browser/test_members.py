"""Invitations in the browser: invite by email, sign up through the emailed link, change the role."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.core import mail
from playwright.sync_api import Page, expect

from organizations.models import Membership, Organization, User
from organizations.roles import Role
from tests.base import make_user
from tests.browser import PASSWORD, log_in, sign_up

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
    invite.get_by_label("Write").check()
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

    # Picking a role saves it (no second button); htmx swaps the page's main part in place: a
    # marker set on this document survives, and focus stays on the picker the person used.
    page.evaluate("window.stillTheSameDocument = true")
    expect(member.get_by_role("button", name="Change role")).to_have_count(0)
    role.focus()
    with page.expect_response(lambda response: response.url.endswith(f"/members/{ben_id}/role/")) as answer:
        role.select_option("admin")
    assert answer.value.request.headers.get("hx-request") == "true"
    expect(page.locator("#messages")).to_contain_text(f"{INVITEE} is now Admin.")
    expect(page.locator(f"#role-{ben_id}")).to_have_value("admin")
    expect(page.locator(f"#role-{ben_id}")).to_be_focused()
    expect(page.locator("#live-region")).to_have_text(f"{INVITEE} is now Admin.")  # said to screen readers
    assert page.evaluate("window.stillTheSameDocument") is True
    screenshot(page, "members-role-changed")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "members-phone")

    page.reload()
    expect(page.locator(f"#role-{ben_id}")).to_have_value("admin")


def test_inviting_yourself_says_so_at_the_field_and_keeps_the_address(alice_page: Page, org: Organization) -> None:
    page = alice_page
    page.goto(f"/orgs/{org.id}/members/")
    page.fill("#id_email", "alice@example.org")
    page.click("#invite-form button[type=submit]")
    field = page.locator("#invite-form #id_email")
    expect(page.locator("#invite-form .errorlist")).to_have_text(
        "This is your own address: you are a member already. Invite someone else."
    )
    expect(field).to_have_value("alice@example.org")
    expect(field).to_be_focused()  # the page opens at the field in error, not at the top
    expect(page.locator("#messages")).to_have_count(0)  # nothing about "the last super admin"
    assert Membership.objects.get(organization=org, user__email="alice@example.org").role == "super_admin"


def test_every_role_picker_says_what_each_role_may_do(alice_page: Page, org: Organization) -> None:
    page = alice_page
    page.goto(f"/orgs/{org.id}/members/")
    form = page.locator("#invite-form")
    expect(form.get_by_label("Read")).to_be_checked()  # the weakest role unless the inviter picks another
    expect(form).to_contain_text("Sees the organization, its members and its apps.")
    expect(form).to_contain_text("Everything Write can, and manages members, settings, webhooks and the audit log.")
    page.click("#role-help summary")
    expect(page.locator("#role-help dl")).to_contain_text("Everything Admin can, and grants or removes super admins.")


def test_a_member_below_admin_sees_no_empty_actions_column(
    org: Organization, new_page: Callable[..., Page], screenshot: Callable[[Page, str], None]
) -> None:
    reader = make_user("rita@example.org", "Rita", password=PASSWORD)
    Membership.objects.create(organization=org, user=reader, role=Role.READ)
    page = new_page()
    log_in(page, reader.email)
    page.goto(f"/orgs/{org.id}/members/")
    expect(page.locator("#members-table th")).to_have_text(["Member", "Role"])
    expect(page.locator("#members-table select")).to_have_count(0)
    expect(page.locator("#invite-form")).to_have_count(0)
    expect(page.locator("#leave-org")).to_be_visible()  # leaving is theirs, in its own section
    screenshot(page, "members-as-reader")
