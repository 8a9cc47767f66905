"""Destructive actions ask first (issue 14, item 1): removing a member, cancelling an invitation,
leaving, declining. The question names what will happen; "cancel" (or Escape) changes nothing and
puts focus back where it was; confirming acts in place and offers the obvious next step. Without
JavaScript the same links open the question as a page."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from organizations import services
from organizations.models import AuditEvent, Invitation, Membership, Organization, User
from organizations.roles import Principal, Role
from tests.base import make_user
from tests.browser import PASSWORD, log_in

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], None]


@pytest.fixture
def bob(org: Organization) -> User:
    user = make_user("bob@example.org", "Bob", password=PASSWORD)
    Membership.objects.create(organization=org, user=user, role=Role.WRITE)
    return user


def is_member(org: Organization, user: User) -> bool:
    return Membership.objects.filter(organization=org, user=user).exists()


def test_removing_a_member_asks_first_and_cancel_changes_nothing(
    alice_page: Page, org: Organization, bob: User, screenshot: Screenshot
) -> None:
    page = alice_page
    page.goto(f"/orgs/{org.id}/members/")
    page.evaluate("window.stillTheSameDocument = true")
    remove = page.locator(f"#remove-{bob.pk}")
    dialog = page.locator("#confirm-dialog")

    remove.click()
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("heading")).to_have_text("Remove bob@example.org?")
    expect(dialog).to_contain_text(f"They lose their Write access to {org.name} at once")
    expect(page.locator("#confirm-cancel")).to_be_focused()  # the harmless choice first
    screenshot(page, "confirm-remove-dialog")
    page.click("#confirm-cancel")
    expect(dialog).to_be_hidden()
    expect(remove).to_be_focused()
    assert is_member(org, bob)

    remove.click()
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(remove).to_be_focused()
    assert is_member(org, bob)

    remove.click()
    page.click("#confirm-submit")
    expect(page.locator("#messages")).to_have_text("bob@example.org was removed. Invite them again")
    expect(page.locator(f'#members-table tr[data-email="{bob.email}"]')).to_have_count(0)
    expect(page.locator("#messages")).to_be_focused()  # the button is gone: focus goes to what happened
    expect(dialog).to_be_hidden()
    assert page.evaluate("window.stillTheSameDocument") is True
    assert not is_member(org, bob)

    # The next step: the invitation form, filled in with who they were.
    page.get_by_role("link", name="Invite them again").click()
    expect(page.locator("#id_email")).to_have_value(bob.email)
    expect(page.locator("#invite-form input[value=write]")).to_be_checked()


def test_cancelling_an_invitation_asks_first(alice_page: Page, alice: User, org: Organization) -> None:
    row = services.member_invite(actor=Principal(alice), org=org, email="dora@example.org", role=Role.UPLOAD)
    page = alice_page
    page.goto(f"/orgs/{org.id}/members/")
    cancel = page.locator(f"#cancel-{row.invitation_id}")
    cancel.click()
    expect(page.locator("#confirm-title")).to_have_text("Cancel the invitation for dora@example.org?")
    expect(page.locator("#confirm-dialog")).to_contain_text("The link in their email stops working at once.")
    page.click("#confirm-cancel")  # "Keep it"
    expect(page.locator("#confirm-dialog")).to_be_hidden()
    assert Invitation.objects.get(pk=row.invitation_id).status == Invitation.Status.PENDING

    cancel.click()
    page.click("#confirm-submit")
    expect(page.locator("#messages")).to_contain_text("The invitation for dora@example.org was cancelled.")
    expect(page.locator("#invitations-section .empty")).to_have_text("No pending invitations.")
    assert Invitation.objects.get(pk=row.invitation_id).status == Invitation.Status.CANCELLED


def test_leaving_asks_first(org: Organization, bob: User, new_page: Callable[..., Page]) -> None:
    page = new_page()
    log_in(page, bob.email)
    page.goto(f"/orgs/{org.id}/members/")
    page.click("#leave-org")
    expect(page.locator("#confirm-title")).to_have_text(f"Leave {org.name}?")
    page.click("#confirm-cancel")  # "Stay"
    expect(page.locator("#confirm-dialog")).to_be_hidden()
    assert is_member(org, bob)

    page.click("#leave-org")
    page.click("#confirm-submit")
    expect(page).to_have_url("/orgs/")
    expect(page.locator("#messages")).to_have_text(f"You left {org.name}.")
    assert not is_member(org, bob)


def test_an_invitation_can_be_declined_after_a_question(
    alice_page: Page, org: Organization, new_page: Callable[..., Page], screenshot: Screenshot
) -> None:
    oscar = make_user("oscar@example.org", "Oscar", password=PASSWORD)
    globex = services.organization_create(actor=Principal(oscar), name="Globex")
    services.member_invite(actor=Principal(oscar), org=globex, email="alice@example.org", role=Role.ADMIN)
    invitation = Invitation.objects.get(organization=globex)
    page = alice_page
    page.goto("/orgs/")
    decline = page.locator(f"#decline-{invitation.pk}")
    decline.click()
    expect(page.locator("#confirm-title")).to_have_text("Decline the invitation to Globex?")
    expect(page.locator("#confirm-dialog")).to_contain_text("Oscar invited you as Admin.")
    screenshot(page, "confirm-decline-dialog")
    page.click("#confirm-cancel")
    expect(decline).to_be_focused()
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.PENDING

    decline.click()
    page.click("#confirm-submit")
    expect(page.locator("#messages")).to_have_text("You declined the invitation to Globex.")
    expect(page.locator("#my-invitations")).to_have_count(0)
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.CANCELLED
    # Oscar's audit log says who said no.
    event = AuditEvent.objects.filter(org_id=globex.id, table_name="org_users").order_by("-id").first()
    assert event.actor_user_email == "alice@example.org"


def test_without_javascript_the_question_is_a_page(
    new_page: Callable[..., Page], alice: User, org: Organization, bob: User
) -> None:
    page = new_page(javascript=False)
    log_in(page, alice.email)
    page.goto(f"/orgs/{org.id}/members/")
    page.click(f"#remove-{bob.pk}")
    expect(page).to_have_url(f"/orgs/{org.id}/members/{bob.pk}/remove/")
    expect(page.get_by_role("heading", name="Remove bob@example.org?")).to_be_visible()
    page.click("#confirm-cancel")
    expect(page).to_have_url(f"/orgs/{org.id}/members/")
    assert is_member(org, bob)
    page.click(f"#remove-{bob.pk}")
    page.click("#confirm-submit")
    expect(page.locator("#messages")).to_contain_text("bob@example.org was removed.")
    assert not is_member(org, bob)
