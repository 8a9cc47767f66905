"""Single sign-on end to end in Chromium, against real identity providers in processes of their own
(django-oauth-toolkit for OpenID Connect, pysaml2 for SAML) and a real DNS server for the domain proof.

The super admin sets it all up on the settings page, as the README tells an operator to; people then
sign in from the login page's "Sign in with SSO".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
import requests
from allauth.socialaccount.models import SocialAccount
from playwright.sync_api import Page, expect

from organizations import services
from organizations.models import Membership, Organization, User
from organizations.roles import Principal, Role
from sso import services as sso_services
from sso.models import Domain
from tests.base import make_user, totp_code
from tests.browser import PASSWORD, log_in, set_up_totp
from tests.dns_server import DnsServer
from tests.idp.harness import PASSWORD as IDP_PASSWORD
from tests.idp.harness import OidcProvider, SamlProvider

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def oidc_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    with OidcProvider(tmp_path_factory.mktemp("oidc")) as idp:
        yield idp


@pytest.fixture(scope="module")
def saml_idp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlProvider]:
    with SamlProvider(tmp_path_factory.mktemp("saml")) as idp:
        yield idp


@pytest.fixture
def dns(settings) -> Iterator[DnsServer]:  # noqa: ANN001
    settings.SSO_ALLOW_PRIVATE_URLS = True
    with DnsServer() as server:
        settings.DNS_RESOLVER = server.address
        yield server


@pytest.fixture
def root(site: str) -> User:
    return make_user("root@acme.test", "Root", password=PASSWORD)


@pytest.fixture
def acme(root: User) -> Organization:
    return services.organization_create(actor=Principal(root), name="Acme Rockets")


def open_settings(page: Page, org: Organization) -> None:
    page.goto(f"/orgs/{org.id}/settings/#sso")
    expect(page.locator("#sso")).to_be_visible()


def prove_and_activate(page: Page, org: Organization, dns: DnsServer, domain: str) -> None:
    """Claim the domain, publish the TXT record the page shows, verify it, activate it."""
    page.fill("#id_domain", domain)
    page.click("#sso-claim")
    row = page.locator(f'tr[data-domain="{domain}"]')
    expect(row).to_have_attribute("data-status", "pending")
    dns.add(row.locator(".txt-name").input_value(), "TXT", row.locator(".txt-value").input_value())
    row.locator(".domain-verify").click()
    expect(row).to_have_attribute("data-status", "verified")
    row.locator(".domain-activate").click()
    expect(row).to_have_attribute("data-status", "active")
    expect(row.locator(".domain-status")).to_have_text("Active")


def test_the_connection_is_live_only_once_tested_and_goes_offline_when_its_issuer_changes(
    new_page: Callable[..., Page], acme: Organization, dns: DnsServer, oidc_idp: OidcProvider
) -> None:
    page = new_page()
    log_in(page, "root@acme.test")
    open_settings(page, acme)
    page.click("#sso-set-up")
    page.check("input[name=protocol][value=oidc]")
    page.fill("#id_issuer_url", oidc_idp.base + "/nothing-here")
    page.fill("#id_client_id", "acme-broken")
    page.fill("#id_client_secret", "s3cret-value-never-shown")
    page.click("#sso-connection-save")
    expect(page.locator("#sso-turn-on")).to_be_disabled()
    page.click("#sso-test")
    expect(page.locator("#sso-test-error")).to_contain_text("HTTP 404")
    expect(page.locator("#sso-status")).to_contain_text("Not tested")
    assert "s3cret-value-never-shown" not in page.content()


def test_oidc_new_and_existing_people_sign_in_then_sso_is_required_but_the_super_admin_keeps_a_way_in(
    new_page: Callable[..., Page], acme: Organization, root: User, dns: DnsServer, oidc_idp: OidcProvider,
    screenshot: Callable[[Page, str], None],
) -> None:  # fmt: skip
    bob = make_user("bob@acme.test", "Bob", password=PASSWORD)
    oidc_idp.add_user("nina", "nina@acme.test", "Nina Newcomer")
    oidc_idp.add_user("bob", "bob@acme.test", "Bob")

    # The super admin connects the OpenID provider, copies the redirect URI into it, tests, turns it on.
    admin = new_page()
    log_in(admin, "root@acme.test")
    open_settings(admin, acme)
    admin.click("#sso-set-up")
    admin.check("input[name=protocol][value=oidc]")
    admin.fill("#id_issuer_url", oidc_idp.issuer)
    admin.fill("#id_client_id", "acme-rockets")
    admin.fill("#id_client_secret", "acme-client-secret-42")
    admin.click("#sso-connection-save")
    redirect_uri = admin.input_value("#sso-redirect-uri")
    assert redirect_uri.endswith("/login/callback/")
    oidc_idp.register("acme-rockets", "acme-client-secret-42", [redirect_uri])
    admin.click("#sso-test")
    expect(admin.locator("#messages")).to_contain_text("answered as expected")
    admin.click("#sso-turn-on")
    expect(admin.locator("#sso-status")).to_contain_text("Live")
    prove_and_activate(admin, acme, dns, "acme.test")
    screenshot(admin, "sso-settings")
    assert "acme-client-secret-42" not in admin.content()

    # A new person: from the login page, through the IdP, into the organization with the default role.
    nina = new_page()
    nina.goto("/accounts/login/")
    nina.click("#sso-login-link")
    nina.fill("#id_email", "nina@acme.test")
    nina.click("#sso-login-submit")
    expect(nina.locator("#idp-login")).to_be_visible()
    nina.fill("#id_username", "nina")
    nina.fill("#id_password", IDP_PASSWORD)
    nina.click("#idp-submit")
    expect(nina.locator("#nav-logout")).to_be_visible()
    nina.goto("/orgs/")
    expect(nina.locator("#org-table")).to_contain_text("Acme Rockets")
    expect(nina.locator("#org-table .badge")).to_have_text("Read")
    user = User.objects.get(email="nina@acme.test")
    assert user.name == "Nina Newcomer"
    assert Membership.objects.get(organization=acme, user=user).role == Role.READ

    # Someone who had an account with a password: linked, the same account.
    bob_page = new_page()
    bob_page.goto("/sso/")
    bob_page.fill("#id_email", "bob@acme.test")
    bob_page.click("#sso-login-submit")
    bob_page.fill("#id_username", "bob")
    bob_page.fill("#id_password", IDP_PASSWORD)
    bob_page.click("#idp-submit")
    expect(bob_page.locator("#nav-logout")).to_be_visible()
    assert SocialAccount.objects.get(user=bob).provider.startswith("sso-")
    assert Membership.objects.get(organization=acme, user=bob).role == Role.READ

    # SSO required: the super admin needs a second factor first (the break-glass), then turns it on.
    totp_secret = set_up_totp(admin)
    open_settings(admin, acme)
    admin.locator('tr[data-domain="acme.test"] .domain-enforce').click()
    expect(admin.locator("#messages")).to_contain_text("now requires single sign-on")

    # Bob's password no longer works; the page points to SSO.
    refused = new_page()
    refused.goto("/accounts/login/")
    refused.fill("#id_login", "bob@acme.test")
    refused.fill("#id_password", PASSWORD)
    refused.click("#login-submit")
    expect(refused.locator("#login-form")).to_contain_text("Sign in with SSO")
    expect(refused.locator("#nav-logout")).to_have_count(0)
    screenshot(refused, "sso-password-refused")

    # The super admin's password and second factor still work.
    glass = new_page()
    glass.goto("/accounts/login/")
    glass.fill("#id_login", "root@acme.test")
    glass.fill("#id_password", PASSWORD)
    glass.click("#login-submit")
    expect(glass).to_have_url(re.compile(r"/accounts/2fa/authenticate/"))
    glass.fill("#id_code", totp_code(totp_secret))
    glass.click("#mfa-submit")
    expect(glass.locator("#nav-logout")).to_be_visible()


def test_saml_a_new_person_signs_in_and_joins(
    new_page: Callable[..., Page], acme: Organization, dns: DnsServer, saml_idp: SamlProvider, site: str
) -> None:
    saml_idp.add_user("sara", "sara@acme.test", "Sara Saml")
    admin = new_page()
    log_in(admin, "root@acme.test")
    open_settings(admin, acme)
    admin.click("#sso-set-up")
    admin.check("input[name=protocol][value=saml]")
    admin.fill("#id_idp_metadata_url", saml_idp.metadata_url)
    admin.click("#sso-connection-save")
    acs = admin.input_value("#sso-acs-url")
    entity_id = admin.input_value("#sso-entity-id")
    assert acs.startswith(site) and "/acs/" in acs
    # The IdP's admin imports our SP metadata from the link on the page.
    sp_metadata = requests.get(admin.locator("#sso-sp-metadata").get_attribute("href"), timeout=10).text
    assert f'entityID="{entity_id}"' in sp_metadata and acs in sp_metadata
    saml_idp.register(sp_metadata)
    admin.click("#sso-test")
    expect(admin.locator("#sso-idp-entity")).to_have_text(saml_idp.metadata_url)
    admin.click("#sso-turn-on")
    expect(admin.locator("#sso-status")).to_contain_text("Live")
    prove_and_activate(admin, acme, dns, "acme.test")

    sara = new_page()
    sara.goto("/accounts/login/")
    sara.click("#sso-login-link")
    sara.fill("#id_email", "sara@acme.test")
    sara.click("#sso-login-submit")
    expect(sara.locator("#idp-sp")).to_contain_text(entity_id)
    sara.fill("#id_username", "sara")
    sara.fill("#id_password", IDP_PASSWORD)
    sara.click("#idp-submit")
    expect(sara.locator("#nav-logout")).to_be_visible()
    user = User.objects.get(email="sara@acme.test")
    assert user.name == "Sara Saml"
    assert Membership.objects.get(organization=acme, user=user).role == Role.READ


def test_a_domain_another_organization_proved_is_refused_on_the_page(
    new_page: Callable[..., Page], acme: Organization, dns: DnsServer
) -> None:
    oscar = make_user("oscar@other.test", password=PASSWORD)
    other = services.organization_create(actor=Principal(oscar), name="Other")
    claimed = sso_services.domain_claim(actor=Principal(oscar), org=other, domain="acme.test")
    Domain.objects.filter(pk=claimed.pk).update(status=Domain.Status.VERIFIED)
    page = new_page()
    log_in(page, "root@acme.test")
    open_settings(page, acme)
    page.fill("#id_domain", "acme.test")
    page.click("#sso-claim")
    expect(page.locator("#messages")).to_contain_text("belongs to another organization")
    expect(page.locator("#sso-no-domains")).to_be_visible()
