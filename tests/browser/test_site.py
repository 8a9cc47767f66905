"""What every page shares (issue 14, items 11 and 12): a skip link, controls whose edges can be
seen (3:1 against their background), a front page that says what this is, styled error pages,
and an admin that says whose it is and fits its columns in a 1280-pixel window."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from organizations.models import Membership, Organization, User
from organizations.roles import Role
from tests.base import make_key, make_user
from tests.browser import PASSWORD, log_in

pytestmark = pytest.mark.browser

# WCAG's contrast ratio of two CSS colours (rgb() strings), computed in the page.
CONTRAST = """([a, b]) => {
  const parse = c => c.match(/[\\d.]+/g).slice(0, 3).map(Number);
  const lum = c => parse(c).map(v => v / 255).map(v => v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4)
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}"""


def test_the_first_tab_reaches_a_skip_link_to_the_content(alice_page: Page, org: Organization) -> None:
    page = alice_page
    page.goto(f"/orgs/{org.id}/members/")
    page.keyboard.press("Tab")
    skip = page.locator("#skip-link")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()
    page.keyboard.press("Tab")
    assert page.evaluate("document.getElementById('main').contains(document.activeElement)")


def test_the_edges_of_inputs_and_buttons_have_at_least_3_to_1_contrast(alice_page: Page, org: Organization) -> None:
    page = alice_page
    page.goto(f"/orgs/{org.id}/members/")
    controls = ["#id_email", "#invite-form button[type=submit]", "#language-de", "select"]
    page.goto(f"/orgs/{org.id}/settings/")
    controls_here = ["#org-general-form #id_name", "#id_logo", "#id_max_apikey_expiration_days", "#copy-org-id"]
    for selector in controls_here:
        element = page.locator(selector).first
        border, background = element.evaluate(
            "e => [getComputedStyle(e).borderTopColor, getComputedStyle(e.closest('.card')).backgroundColor]"
        )
        ratio = page.evaluate(CONTRAST, [border, background])
        assert ratio >= 3, f"{selector}: {border} on {background} is {ratio:.2f}:1"
    page.goto(f"/orgs/{org.id}/members/")
    page.locator("#id_email").focus()
    outline = page.locator("#id_email").evaluate("e => getComputedStyle(e).outlineColor")
    assert page.evaluate(CONTRAST, [outline, "rgb(255, 255, 255)"]) >= 3
    assert controls  # the members page's controls share the same rules


def test_the_front_page_says_what_this_is_and_leads_in(visitor: Page) -> None:
    page = visitor
    page.goto("/")
    expect(page).to_have_url("/")  # not sent to the login page
    expect(page.get_by_role("heading", level=1)).to_contain_text("organizations, members and API keys")
    page.click("#home-signup")
    expect(page).to_have_url("/accounts/signup/")


def test_access_denied_and_not_found_are_pages_of_the_site(
    org: Organization, new_page: Callable[..., Page], screenshot: Callable[[Page, str], None]
) -> None:
    reader = make_user("rita@example.org", "Rita", password=PASSWORD)
    Membership.objects.create(organization=org, user=reader, role=Role.READ)
    page = new_page()
    log_in(page, reader.email)
    response = page.goto(f"/orgs/{org.id}/settings/")
    assert response is not None and response.status == 403
    expect(page.locator("#error-page .error-code")).to_have_text("Error 403")
    expect(page.locator("#error-title")).to_have_text("Not allowed")
    expect(page.locator("#error-reason")).to_have_text("Admin role required")
    expect(page.locator("#nav-orgs")).to_be_visible()  # the site's frame, its stylesheet
    assert page.locator("#error-page").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(255, 255, 255)"
    screenshot(page, "error-403")
    page.click("#error-home")
    expect(page).to_have_url("/orgs/")
    response = page.goto("/orgs/org_missing/members/")
    assert response is not None and response.status == 404
    expect(page.locator("#error-title")).to_have_text("Not found")


def test_the_admin_is_branded_and_fits_its_columns_at_1280(
    new_page: Callable[..., Page], org: Organization, screenshot: Callable[[Page, str], None]
) -> None:
    Organization.objects.filter(pk=org.pk).update(name="W" * 100)
    staff = make_user("sam@example.org", "Sam", password=PASSWORD)
    User.objects.filter(pk=staff.pk).update(is_staff=True, is_superuser=True)
    make_key(staff, name="W" * 100)
    long_address = make_user("bob.with.a.rather.long.address@subdomain.example.org", "Bob")
    Membership.objects.create(organization=org, user=long_address, role=Role.WRITE)
    page = new_page()
    log_in(page, staff.email)
    lists = ("organization", "auditevent", "membership", "apikey", "user")
    for path in [f"/admin/organizations/{name}/" for name in lists]:
        page.goto(path)
        expect(page.locator("#site-name")).to_have_text("capgo-org")
        assert "Django" not in page.title()
        results = page.locator("#changelist .results")
        cut = results.evaluate("e => e.scrollWidth - e.clientWidth")
        assert cut <= 0, f"{path}: {cut}px of columns cut off"
    screenshot(page, "admin-users")
