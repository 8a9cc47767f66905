"""Every page, in English and German, at 1280 and 390 pixels: screenshots for people to look at,
and the one check every page must pass at both widths: nothing is wider than the window.

The data is the awkward kind: an organization named with 100 characters and no space (the
longest name allowed), a member with a long address, pending invitations both ways, keys, a
webhook, a logo, and an audit log with every kind of event. Screenshots are written to
artifacts/screenshots/tour/<language>-<width>-<page>.png (git-ignored).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from organizations import services
from organizations.models import ApiKey, Invitation, Membership, Organization, User
from organizations.roles import Principal, Role
from tests.base import make_user
from tests.browser import PASSWORD, log_in
from tests.browser.conftest import SCREENSHOTS
from webhooks import services as webhook_services

pytestmark = pytest.mark.browser

LONG_NAME = ("Interplanetary" * 8)[:100]  # the longest name allowed, without a space to break at
WIDTHS = (1280, 390)


@dataclass
class Cast:
    alice: User
    long_org: Organization
    acme: Organization
    locked: Organization
    bob: User
    key: ApiKey
    webhook_id: str
    invitation: Invitation
    invitation_link: str


def build_cast(settings) -> Cast:  # noqa: ANN001 - pytest-django's settings fixture
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    alice = make_user("alice@example.org", "Alice Liddell", password=PASSWORD)
    make_user("sam@example.org", "Sam Staff", password=PASSWORD)
    User.objects.filter(email="sam@example.org").update(is_staff=True, is_superuser=True)
    bob = make_user("bob.with.a.rather.long.address@subdomain.example.org", "Bob", password=PASSWORD)
    carol = make_user("carol@example.org", "Carol", password=PASSWORD)
    oscar = make_user("oscar@example.org", "Oscar", password=PASSWORD)
    as_alice, as_oscar = Principal(alice), Principal(oscar)

    long_org = services.organization_create(actor=as_alice, name=LONG_NAME, website="https://example.org")
    Membership.objects.create(organization=long_org, user=bob, role=Role.WRITE)
    Membership.objects.create(organization=long_org, user=carol, role=Role.READ)
    services.organization_update(
        actor=as_alice, org=long_org, changes={"require_apikey_expiration": True, "max_apikey_expiration_days": 90}
    )
    services.member_change_role(
        actor=as_alice, org=long_org, membership=Membership.objects.get(organization=long_org, user=carol),
        new_role=Role.UPLOAD,
    )  # fmt: skip
    services.member_invite(actor=as_alice, org=long_org, email="dora.newcomer@example.org", role=Role.WRITE)
    webhook, _secret = webhook_services.webhook_create(
        actor=as_alice, org=long_org, name="CRM sync", url="https://hooks.example.org/capgo", events=["org_users"]
    )
    key, _plaintext = services.api_key_create(
        actor=as_alice, user=alice, name="Deploy from CI", mode="write", limited_to_orgs=[long_org.id],
        expires_at=timezone.now() + timedelta(days=60),
    )  # fmt: skip
    services.api_key_create(actor=as_alice, user=alice, name="Laptop", mode="read")

    # Oscar's organizations: Alice reads in one, is invited to another, and one locks her out.
    acme = services.organization_create(actor=as_oscar, name="Acme Rockets")
    Membership.objects.create(organization=acme, user=alice, role=Role.READ)
    locked = services.organization_create(actor=as_oscar, name="Strict Corp")
    Membership.objects.create(organization=locked, user=alice, role=Role.READ)
    Organization.objects.filter(pk=locked.pk).update(enforcing_2fa=True)
    invited = services.organization_create(actor=as_oscar, name="Globex")
    mail.outbox.clear()
    services.member_invite(actor=as_oscar, org=invited, email=alice.email, role=Role.ADMIN)
    link = re.search(r"https?://\S+/invitations/\S+/", mail.outbox[-1].body)[0]
    invitation = Invitation.objects.get(organization=invited, email=alice.email)
    return Cast(
        alice=alice, long_org=long_org, acme=acme, locked=locked, bob=bob, key=key, webhook_id=str(webhook.pk),
        invitation=invitation, invitation_link=urlsplit(link).path,
    )  # fmt: skip


def shoot(page: Page, language: str, name: str) -> None:
    """At each width: the page is no wider than the window, and a full-page screenshot."""
    folder = SCREENSHOTS / "tour"
    folder.mkdir(parents=True, exist_ok=True)
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{name} in {language} is {overflow}px wider than the {width}px window"
        page.screenshot(path=folder / f"{language}-{width}-{name}.png", full_page=True)
    page.set_viewport_size({"width": WIDTHS[0], "height": 900})


def visit(page: Page, language: str, name: str, path: str) -> None:
    page.goto(path)
    shoot(page, language, name)


def watch(page: Page, errors: list[str]) -> Page:
    """Collects script errors and console errors (a CSP violation is one) of every page visited."""
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    page.on(
        "console", lambda message: errors.append(f"{page.url}: {message.text}") if message.type == "error" else None
    )
    return page


@pytest.mark.parametrize("language", ["en", "de"])
def test_every_page_fits_the_window_in_both_languages(
    new_page: Callable[..., Page], settings, language: str, site: str
) -> None:
    cast = build_cast(settings)
    org, acme = cast.long_org, cast.acme
    errors: list[str] = []
    anonymous = watch(new_page(locale="de-DE" if language == "de" else "en-US"), errors)
    anonymous.context.add_cookies([{"name": "django_language", "value": language, "url": site}])
    for name, path in [
        ("home", "/"),
        ("login", "/accounts/login/"),
        ("signup", "/accounts/signup/"),
        ("password-reset", "/accounts/password/reset/"),
        ("not-found", "/nowhere/"),
    ]:
        visit(anonymous, language, name, path)
    visit(anonymous, language, "invitation", cast.invitation_link)

    page = watch(new_page(locale="de-DE" if language == "de" else "en-US"), errors)
    page.context.add_cookies([{"name": "django_language", "value": language, "url": site}])
    log_in(page, cast.alice.email)
    expect(page.locator("html")).to_have_attribute("lang", language)
    for name, path in [
        ("org-list", "/orgs/"),
        ("org-create", "/orgs/new/"),
        ("members", f"/orgs/{org.id}/members/"),
        ("settings", f"/orgs/{org.id}/settings/"),
        ("audit", f"/orgs/{org.id}/audit/"),
        ("webhooks", f"/orgs/{org.id}/webhooks/"),
        ("webhook", f"/orgs/{org.id}/webhooks/{cast.webhook_id}/"),
        ("org-delete", f"/orgs/{org.id}/delete/"),
        ("confirm-remove", f"/orgs/{org.id}/members/{cast.bob.pk}/remove/"),
        ("confirm-leave", f"/orgs/{acme.id}/leave/"),
        ("confirm-decline", f"/orgs/{cast.invitation.organization_id}/decline/"),
        ("members-as-reader", f"/orgs/{acme.id}/members/"),
        ("forbidden", f"/orgs/{acme.id}/settings/"),
        ("policy-required", f"/orgs/{cast.locked.id}/members/"),
        ("apikeys", "/keys/"),
        ("apikey-delete", f"/keys/{cast.key.pk}/delete/"),
        ("profile", "/accounts/profile/"),
        ("email", "/accounts/email/"),
        ("password-change", "/accounts/password/change/"),
        ("two-factor", "/accounts/2fa/"),
        ("sessions", "/accounts/sessions/"),
        ("key-review", "/accounts/keys/review/"),
        ("not-found-logged-in", "/orgs/org_nothing/"),
    ]:
        visit(page, language, name, path)

    # The same pages in their in-page states: a confirmation dialog, a key the policy would refuse.
    page.goto(f"/orgs/{org.id}/members/")
    page.click(f"#remove-{cast.bob.pk}")
    expect(page.locator("#confirm-dialog")).to_be_visible()
    shoot(page, language, "members-dialog")
    page.goto("/keys/")
    page.fill("#id_name", "Forever")
    page.fill("#id_expires_in_days", "")
    page.click("#create-key-submit")
    expect(page.locator("#key-policy-warning")).to_be_visible()
    shoot(page, language, "apikeys-warning")
    page.goto(f"/orgs/{org.id}/members/")
    page.fill("#id_email", cast.alice.email)
    page.click("#invite-form button[type=submit]")
    expect(page.locator("#invite-form .errorlist")).to_be_visible()
    shoot(page, language, "members-invite-error")

    staff = watch(new_page(locale="de-DE" if language == "de" else "en-US"), errors)
    staff.context.add_cookies([{"name": "django_language", "value": language, "url": site}])
    log_in(staff, "sam@example.org")
    event = org.id
    for name, path in [
        ("admin", "/admin/"),
        ("admin-organizations", "/admin/organizations/organization/"),
        ("admin-organization", f"/admin/organizations/organization/{org.id}/change/"),
        ("admin-memberships", "/admin/organizations/membership/"),
        ("admin-invitations", "/admin/organizations/invitation/"),
        ("admin-apikeys", "/admin/organizations/apikey/"),
        ("admin-audit", "/admin/organizations/auditevent/"),
        ("admin-audit-filtered", f"/admin/organizations/auditevent/?org_id={event}"),
        ("admin-users", "/admin/organizations/user/"),
        ("admin-webhooks", "/admin/webhooks/webhook/"),
        ("admin-deliveries", "/admin/webhooks/delivery/"),
        ("admin-emails", "/admin/organizations/email/"),
        ("admin-tasks", "/admin/django_tasks_database/dbtaskresult/"),
        ("admin-second-factors", "/admin/accounts/secondfactor/"),
        ("admin-sessions", "/admin/accounts/session/"),
    ]:
        visit(staff, language, name, path)
    staff.goto("/admin/organizations/auditevent/")
    staff.locator("#result_list tbody tr a").first.click()
    shoot(staff, language, "admin-audit-event")
    # The 404s above log their status to the console; nothing else may.
    assert [e for e in errors if "404 (Not Found)" not in e and "403 (Forbidden)" not in e] == []
