"""The audit page reads as sentences (issue 14, item 5): who did what, in the viewer's language,
filtered by person and by kind of change, the raw record one click away. The API's events are
unchanged: the same invite, resend, cancel and accept that all read "org_users UPDATE" there."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from organizations import services
from organizations.models import AuditEvent, Invitation, Organization, User
from organizations.roles import Principal, Role
from tests.base import make_user
from tests.browser import PASSWORD

pytestmark = pytest.mark.browser


@pytest.fixture
def history(alice: User, org: Organization) -> None:
    """Invite, resend, cancel; invite again, and the invitee accepts; then a policy change."""
    as_alice = Principal(alice)
    services.member_invite(actor=as_alice, org=org, email="bob@example.org", role=Role.WRITE)
    services.member_invite(actor=as_alice, org=org, email="bob@example.org", role=Role.WRITE)
    services.member_remove(actor=as_alice, org=org, email="bob@example.org")
    bob = make_user("bob@example.org", "Bob", password=PASSWORD)
    row = services.member_invite(actor=as_alice, org=org, email="bob@example.org", role=Role.UPLOAD)
    services.invitation_accept(actor=Principal(bob), invitation=Invitation.objects.get(pk=row.invitation_id))
    services.organization_update(actor=as_alice, org=org, changes={"require_apikey_expiration": True})


def sentences(page: Page) -> list[str]:
    return [" ".join(text.split()) for text in page.locator(".audit-sentence").all_inner_texts()]


def test_the_audit_log_reads_as_sentences_in_english_and_german(
    alice_page: Page, org: Organization, history: None, screenshot: Callable[[Page, str], None]
) -> None:
    page = alice_page
    page.goto(f"/orgs/{org.id}/audit/")
    assert sentences(page) == [
        "Alice changed the API key policy: expiry required.",
        "Bob joined as Upload.",
        "Bob accepted the invitation as Upload.",
        "Alice invited bob@example.org as Upload.",
        "Alice cancelled the invitation for bob@example.org.",
        "Alice sent the invitation to bob@example.org again.",
        "Alice invited bob@example.org as Write.",
        "Alice joined as Super admin.",
        f"Alice created the organization {org.name}.",
    ]
    # The time in the viewer's language and time zone; the raw record one click away.
    first = page.locator(".audit-event").first
    expect(first.locator("time")).to_have_attribute("datetime", AuditEvent.objects.latest("id").created_at.isoformat())
    expect(first.locator("pre").first).to_be_hidden()
    first.locator("summary").click()
    expect(first.locator("pre").last).to_contain_text('"require_apikey_expiration": true')
    expect(first.locator(".audit-raw")).to_contain_text("orgs")
    screenshot(page, "audit-en")

    # Only Bob's doing, then only invitations.
    page.select_option("#id_person", label="Bob")
    page.click("#audit-filter-form button[type=submit]")
    assert sentences(page) == ["Bob joined as Upload.", "Bob accepted the invitation as Upload."]
    page.select_option("#id_person", "")
    page.select_option("#id_kind", "invitations")
    page.click("#audit-filter-form button[type=submit]")
    assert len(sentences(page)) == 5 and all("invitation" in s or "invited" in s for s in sentences(page))
    page.click("#audit-clear")

    page.click("#language-de")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    assert sentences(page)[:4] == [
        "Alice hat die API-Schlüssel-Richtlinie geändert: Ablaufdatum erforderlich.",
        "Bob ist mit der Rolle Hochladen beigetreten.",
        "Bob hat die Einladung mit der Rolle Hochladen angenommen.",
        "Alice hat bob@example.org mit der Rolle Hochladen eingeladen.",
    ]
    expect(page.locator("#audit-filter-form")).to_contain_text("Art der Änderung")
    first = page.locator(".audit-event").first
    expect(first.locator("time")).not_to_contain_text("p.m.")
    screenshot(page, "audit-de")
