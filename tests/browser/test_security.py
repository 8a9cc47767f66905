"""Organization security policies in the browser: an admin turns on 2FA enforcement and a
password policy from the Security section, a member sees what is required and complies."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from organizations.models import Membership, Organization
from organizations.roles import Role
from tests.base import make_user
from tests.browser import PASSWORD, log_in, set_up_totp

pytestmark = pytest.mark.browser

Screenshot = Callable[[Page, str], None]
STRONG = "Strong-Passw0rd-2026"


@pytest.fixture
def bob(org: Organization):  # noqa: ANN201 - a member of Alice's organization
    user = make_user("bob@example.org", "Bob", password=PASSWORD)
    Membership.objects.create(organization=org, user=user, role=Role.WRITE)
    return user


def test_enforcing_2fa_locks_out_a_member_until_they_set_it_up(
    alice_page: Page, org: Organization, bob, new_page: Callable[..., Page], screenshot: Screenshot
) -> None:
    admin = alice_page
    set_up_totp(admin)
    admin.goto(f"/orgs/{org.id}/settings/")
    expect(admin.locator("#all-comply")).to_be_visible()
    admin.check("#id_enforcing_2fa")
    admin.click("#security-submit")
    expect(admin.locator("#security-confirm")).to_contain_text("1 member will be locked out until they comply:")
    expect(admin.locator("#locked-out")).to_contain_text("bob@example.org")
    screenshot(admin, "security-confirm")
    admin.click("#security-submit")
    expect(admin.locator("#messages")).to_contain_text("The security policies were saved.")
    expect(admin.locator('#not-complying tr[data-email="bob@example.org"]')).to_be_visible()
    screenshot(admin, "security-saved")

    member = new_page()
    log_in(member, bob.email)
    expect(member.locator(f"#needs-2fa-{org.id}")).to_be_visible()
    member.get_by_role("link", name=org.name, exact=True).click()
    expect(member.locator("#policy-reason")).to_contain_text("requires two-factor authentication")
    expect(member.locator("#policy-leave")).to_be_visible()
    screenshot(member, "security-required-2fa")
    member.click("#setup-2fa")
    set_up_totp(member)
    member.goto(f"/orgs/{org.id}/members/")
    expect(member.locator("#org-name")).to_have_text(org.name)


def test_a_password_policy_asks_members_to_confirm_a_compliant_password(
    alice_page: Page, org: Organization, bob, new_page: Callable[..., Page], screenshot: Screenshot
) -> None:
    admin = alice_page
    admin.goto(f"/orgs/{org.id}/settings/")
    admin.check("#id_policy_enabled")
    admin.fill("#id_min_length", "12")
    admin.fill("#id_password", PASSWORD)  # Alice's own password: long enough, an uppercase letter? no digit rule
    admin.uncheck("#id_require_uppercase")
    admin.click("#security-submit")
    expect(admin.locator("#locked-out")).to_contain_text("bob@example.org")
    admin.fill("#id_password", PASSWORD)  # asked again with the confirmation: it is never sent back to the page
    admin.click("#security-submit")
    expect(admin.locator("#messages")).to_contain_text("The security policies were saved.")

    member = new_page()
    log_in(member, bob.email)  # his password meets it: a login checks it
    member.goto(f"/orgs/{org.id}/members/")
    expect(member.locator("#org-name")).to_have_text(org.name)

    # A stricter policy asks everyone again; Bob changes his password and confirms it.
    Organization.objects.filter(pk=org.pk).update(
        password_policy_config={
            "enabled": True,
            "min_length": 12,
            "require_uppercase": True,
            "require_number": True,
            "require_special": True,
        }  # fmt: skip
    )
    member.goto(f"/orgs/{org.id}/members/")
    expect(member.locator("#policy-rules")).to_contain_text("an uppercase letter")
    screenshot(member, "security-required-password")
    member.fill("#id_password", PASSWORD)
    member.click("#password-confirm-submit")
    expect(member.locator("#password-confirm-form")).to_contain_text("does not meet the policy")
    member.click("#change-password")
    member.fill("#id_oldpassword", PASSWORD)
    member.fill("#id_password1", STRONG)
    member.fill("#id_password2", STRONG)
    member.click("#password-change-submit")
    expect(member.locator("#messages")).to_contain_text("Your password has been changed.")
    member.goto(f"/orgs/{org.id}/members/")
    expect(member.locator("#org-name")).to_have_text(org.name)
