"""Single sign-on through OpenID Connect, against a real OpenID provider (django-oauth-toolkit) in its own
process: discovery, the authorization code with PKCE, the ID token signed with an RSA key made here and
checked against the provider's JWKS. Our side runs in Django's test client.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from django.test import TestCase, override_settings
from django.utils.html import escape

from accounts.verification import is_verified
from organizations import services as org_services
from organizations.models import AuditEvent, Membership, User
from organizations.roles import Principal, Role
from sso import services
from sso.models import Connection, Domain
from tests.base import make_user
from tests.idp.harness import OidcProvider

SITE = "http://testserver"


def idp_url(test: TestCase, response, prefix: str) -> str:  # noqa: ANN001
    """Where "Sign in with SSO" sends the browser (a page that moves on by itself, and its link)."""
    test.assertEqual(response.status_code, 200, response.content[:500])
    url = html.unescape(re.search(r'id="sso-continue" href="([^"]+)"', response.content.decode()).group(1))
    test.assertContains(response, f'<meta http-equiv="refresh" content="0;url={escape(url)}">')
    test.assertTrue(url.startswith(prefix), url)
    return url


@pytest.fixture(scope="class")
def oidc_idp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    with OidcProvider(tmp_path_factory.mktemp("oidc")) as idp:
        request.cls.idp = idp
        yield idp


def make_live_oidc(org, idp: OidcProvider, client_id: str, *, domain: str, role: str = Role.READ) -> Connection:
    """The organization's connection, set up as its super_admin would (tested and turned on), with an active domain."""
    admin = Membership.objects.filter(organization=org, role=Role.SUPER_ADMIN).first().user
    actor = Principal(admin)
    secret = f"secret-of-{client_id}"
    connection = services.connection_save(
        actor=actor, org=org, protocol="oidc", issuer_url=idp.issuer, client_id=client_id, client_secret=secret,
        default_role=role,
    )  # fmt: skip
    idp.register(client_id, secret, [connection.urls()["redirect_uri"]])
    connection = services.connection_test(actor=actor, org=org)
    assert connection.last_error == "", connection.last_error
    services.connection_set_live(actor=actor, org=org, live=True)
    claimed = services.domain_claim(actor=actor, org=org, domain=domain)
    Domain.objects.filter(pk=claimed.pk).update(status=Domain.Status.VERIFIED)  # the DNS proof: tests/test_sso.py
    services.domain_activate(actor=actor, org=org, domain=claimed)
    return Connection.objects.get(pk=connection.pk)


@pytest.mark.usefixtures("oidc_idp")
@override_settings(SITE_URL=SITE, SSO_ALLOW_PRIVATE_URLS=True)
class OidcSignInTestCase(TestCase):
    idp: OidcProvider

    def setUp(self) -> None:
        self.root = make_user("root@acme.test", "Root")
        self.org = org_services.organization_create(actor=Principal(self.root), name="Acme")
        self.connection = make_live_oidc(self.org, self.idp, f"acme-{self.id()[-20:]}", domain="acme.test")

    def start(self, email: str) -> str:
        return idp_url(self, self.client.post("/sso/", {"email": email}), self.idp.issuer + "/authorize/")

    def come_back(self, callback: str):  # noqa: ANN201
        self.assertTrue(callback.startswith(f"{SITE}/accounts/oidc/{self.connection.provider_id}/login/callback/"))
        return self.client.get(callback.removeprefix(SITE), follow=True)

    def sign_in(self, email: str, username: str):  # noqa: ANN201
        return self.come_back(self.idp.sign_in(self.start(email), username))

    def assertSignedInAs(self, response, email: str) -> User:  # noqa: N802, ANN001
        self.assertContains(response, 'id="nav-logout"')
        user = User.objects.get(email=email)
        self.assertEqual(str(self.client.session["_auth_user_id"]), str(user.pk))
        return user

    def assertRefused(self, response) -> None:  # noqa: N802, ANN001
        self.assertNotIn("_auth_user_id", self.client.session)
        self.assertNotIn(b'id="nav-logout"', response.content)

    def test_a_new_person_gets_a_verified_account_and_joins_with_the_default_role(self) -> None:
        self.idp.add_user("nina", "nina@acme.test", "Nina N")
        user = self.assertSignedInAs(self.sign_in("nina@acme.test", "nina"), "nina@acme.test")
        self.assertEqual(user.name, "Nina N")
        self.assertTrue(is_verified(user))
        self.assertFalse(user.has_usable_password())
        self.assertEqual(Membership.objects.get(organization=self.org, user=user).role, Role.READ)
        self.assertTrue(SocialAccount.objects.filter(user=user, provider=self.connection.provider_id).exists())
        event = AuditEvent.objects.get(org_id=self.org.id, table_name="org_users", operation="INSERT",
                                       record_id=user.pk)  # fmt: skip
        self.assertEqual(event.new_record["role"], Role.READ)
        self.assertEqual(event.actor_user_id, str(user.pk))

    def test_the_connection_decides_the_role_but_never_super_admin(self) -> None:
        services.connection_save(
            actor=Principal(self.root), org=self.org, protocol="oidc", issuer_url=self.idp.issuer,
            client_id=self.connection.client_id, default_role=Role.WRITE,
        )  # fmt: skip
        self.idp.add_user("walt", "walt@acme.test")
        user = self.assertSignedInAs(self.sign_in("walt@acme.test", "walt"), "walt@acme.test")
        self.assertEqual(Membership.objects.get(organization=self.org, user=user).role, Role.WRITE)
        with self.assertRaises(Exception):  # noqa: B017 - the service's Invalid; the database refuses it too
            services.connection_save(
                actor=Principal(self.root), org=self.org, protocol="oidc", issuer_url=self.idp.issuer,
                client_id=self.connection.client_id, default_role=Role.SUPER_ADMIN,
            )  # fmt: skip

    def test_an_existing_account_with_the_verified_address_is_linked_and_keeps_its_role(self) -> None:
        bob = make_user("bob@acme.test", "Bob")
        Membership.objects.create(organization=self.org, user=bob, role=Role.ADMIN)
        self.idp.add_user("bob", "bob@acme.test")
        user = self.assertSignedInAs(self.sign_in("bob@acme.test", "bob"), "bob@acme.test")
        self.assertEqual(user.pk, bob.pk)
        self.assertTrue(user.has_usable_password())
        self.assertEqual(SocialAccount.objects.get(provider=self.connection.provider_id).user_id, bob.pk)
        self.assertEqual(Membership.objects.get(organization=self.org, user=bob).role, Role.ADMIN)
        # The second time, the link is found (no second account, no second membership event).
        self.client.post("/accounts/logout/")
        self.assertSignedInAs(self.sign_in("bob@acme.test", "bob"), "bob@acme.test")
        self.assertEqual(SocialAccount.objects.filter(provider=self.connection.provider_id).count(), 1)

    def test_an_unverified_account_at_the_address_is_claimed_and_loses_its_password(self) -> None:
        squatter = make_user("sam@acme.test", "Squatter", verified=False)
        self.idp.add_user("sam", "sam@acme.test")
        user = self.assertSignedInAs(self.sign_in("sam@acme.test", "sam"), "sam@acme.test")
        self.assertEqual(user.pk, squatter.pk)
        self.assertFalse(user.has_usable_password())
        self.assertTrue(is_verified(user))

    def test_an_address_at_another_domain_is_refused(self) -> None:
        self.idp.add_user("eve", "eve@elsewhere.test")
        response = self.sign_in("nobody@acme.test", "eve")
        self.assertRefused(response)
        self.assertContains(response, "not at a domain of Acme")
        self.assertFalse(User.objects.filter(email="eve@elsewhere.test").exists())

    def test_an_address_at_another_organizations_domain_is_refused(self) -> None:
        oscar = make_user("oscar@other.test")
        other = org_services.organization_create(actor=Principal(oscar), name="Other")
        make_live_oidc(other, self.idp, f"other-{self.id()[-20:]}", domain="other.test")
        self.idp.add_user("olga", "olga@other.test")
        response = self.sign_in("anyone@acme.test", "olga")  # Acme's IdP vouching for an Other address
        self.assertRefused(response)
        self.assertFalse(User.objects.filter(email="olga@other.test").exists())
        self.assertFalse(Membership.objects.filter(organization=self.org, user__email="olga@other.test").exists())

    def test_an_id_token_for_another_audience_is_refused(self) -> None:
        self.idp.add_user("wrongaud-ann", "ann@acme.test")
        with self.assertLogs("sso", "WARNING") as logs:
            self.assertRefused(self.sign_in("ann@acme.test", "wrongaud-ann"))
        self.assertIn("Audience doesn't match", logs.output[-1])
        self.assertFalse(User.objects.filter(email="ann@acme.test").exists())

    def test_an_expired_id_token_is_refused(self) -> None:
        self.idp.add_user("expired-ann", "ann@acme.test")
        with self.assertLogs("sso", "WARNING") as logs:
            self.assertRefused(self.sign_in("ann@acme.test", "expired-ann"))
        self.assertIn("Signature has expired", logs.output[-1])
        self.assertFalse(User.objects.filter(email="ann@acme.test").exists())

    def test_an_unsigned_id_token_is_refused(self) -> None:
        self.idp.add_user("unsigned-ann", "ann@acme.test")
        with self.assertLogs("sso", "WARNING") as logs:
            self.assertRefused(self.sign_in("ann@acme.test", "unsigned-ann"))
        self.assertIn("algorithm 'none'", logs.output[-1])
        self.assertFalse(User.objects.filter(email="ann@acme.test").exists())

    def test_an_id_token_signed_by_another_key_is_refused_though_it_came_from_the_token_endpoint(self) -> None:
        self.idp.add_user("forged-ann", "ann@acme.test")
        with self.assertLogs("sso", "WARNING") as logs:
            self.assertRefused(self.sign_in("ann@acme.test", "forged-ann"))
        self.assertIn("Signature verification failed", logs.output[-1])
        self.assertFalse(User.objects.filter(email="ann@acme.test").exists())

    def test_a_replayed_callback_is_refused(self) -> None:
        self.idp.add_user("rick", "rick@acme.test")
        callback = self.idp.sign_in(self.start("rick@acme.test"), "rick")
        self.assertSignedInAs(self.come_back(callback), "rick@acme.test")
        self.client.post("/accounts/logout/")
        with self.assertLogs("sso", "WARNING"):
            self.assertRefused(self.come_back(callback))  # same browser: its state was used up
        self.client.cookies.clear()
        with self.assertLogs("sso", "WARNING"):
            self.assertRefused(self.come_back(callback))  # another browser: it never had the state

    def test_a_connection_turned_off_meanwhile_signs_nobody_in(self) -> None:
        self.idp.add_user("tom", "tom@acme.test")
        authorize = self.start("tom@acme.test")
        services.connection_set_live(actor=Principal(self.root), org=self.org, live=False)
        with self.assertLogs("sso", "WARNING") as logs:
            self.assertRefused(self.come_back(self.idp.sign_in(authorize, "tom")))
        self.assertIn("is not live", logs.output[-1])
        self.assertFalse(User.objects.filter(email="tom@acme.test").exists())
        response = self.client.post("/sso/", {"email": "tom@acme.test"})
        self.assertContains(response, "Single sign-on is not set up for this address", status_code=400)

    def test_connecting_an_idp_account_to_the_account_one_is_logged_in_as_is_refused(self) -> None:
        mallory = make_user("mallory@elsewhere.test")
        self.client.force_login(mallory)
        self.idp.add_user("nora", "nora@acme.test")
        response = self.client.post(f"/accounts/oidc/{self.connection.provider_id}/login/", {"process": "connect"})
        self.assertEqual(response.status_code, 302)
        with self.assertLogs("sso", "WARNING"):
            self.come_back(self.idp.sign_in(response["Location"], "nora"))
        self.assertFalse(SocialAccount.objects.exists())
        self.assertFalse(User.objects.filter(email="nora@acme.test").exists())

    def test_an_address_without_single_sign_on_is_told_to_use_its_password(self) -> None:
        response = self.client.post("/sso/", {"email": "someone@example.org"})
        self.assertContains(response, "Single sign-on is not set up for this address", status_code=400)


@pytest.mark.usefixtures("oidc_idp")
@override_settings(SITE_URL=SITE, SSO_ALLOW_PRIVATE_URLS=True)
class OidcConnectionTestTestCase(TestCase):
    """ "Test the connection" against the real provider: what passes, and what it says when it does not."""

    idp: OidcProvider

    def setUp(self) -> None:
        self.root = make_user("root@acme.test")
        self.org = org_services.organization_create(actor=Principal(self.root), name="Acme")
        self.actor = Principal(self.root)

    def save(self, issuer: str) -> Connection:
        return services.connection_save(
            actor=self.actor, org=self.org, protocol="oidc", issuer_url=issuer, client_id="c", client_secret="s"
        )

    def test_the_real_provider_passes_and_the_connection_may_go_live(self) -> None:
        self.save(self.idp.issuer)
        connection = services.connection_test(actor=self.actor, org=self.org)
        self.assertEqual(connection.last_error, "")
        self.assertIsNotNone(connection.tested_at)
        self.assertTrue(services.connection_set_live(actor=self.actor, org=self.org, live=True).enabled)

    def test_another_issuer_in_the_discovery_document_fails_and_says_which(self) -> None:
        self.save(self.idp.base + "/o/")  # the document says .../o, without the slash: fine
        self.assertEqual(services.connection_test(actor=self.actor, org=self.org).last_error, "")
        self.save(self.idp.base + "/o/.well-known/..")  # a path that is not the issuer
        connection = services.connection_test(actor=self.actor, org=self.org)
        self.assertTrue(connection.last_error)
        self.assertIsNone(connection.tested_at)

    def test_a_missing_discovery_document_fails_with_its_status(self) -> None:
        self.save(self.idp.base + "/nothing-here")
        connection = services.connection_test(actor=self.actor, org=self.org)
        self.assertIn("HTTP 404", connection.last_error)
        self.assertIsNone(connection.tested_at)
        with self.assertRaises(Exception):  # noqa: B017 - ConnectionNotTested
            services.connection_set_live(actor=self.actor, org=self.org, live=True)

    def test_a_provider_that_does_not_answer_fails(self) -> None:
        port = urlsplit(self.idp.base).port
        self.save(f"http://127.0.0.1:{port + 1 if port < 65535 else port - 1}/o")
        self.assertIn("could not be fetched", services.connection_test(actor=self.actor, org=self.org).last_error)

    def test_a_changed_issuer_takes_the_connection_offline_until_tested_again(self) -> None:
        self.save(self.idp.issuer)
        services.connection_test(actor=self.actor, org=self.org)
        services.connection_set_live(actor=self.actor, org=self.org, live=True)
        connection = self.save(self.idp.issuer + "/")
        self.assertFalse(connection.enabled)
        self.assertIsNone(connection.tested_at)
