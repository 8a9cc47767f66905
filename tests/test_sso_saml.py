"""Single sign-on through SAML 2.0, against a real IdP (pysaml2, signing with xmlsec1 and a key and
certificate made here) in its own process: our SP metadata registered at the IdP, an AuthnRequest by
HTTP-Redirect, the signed response posted back to our ACS and checked by python3-saml.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests
from django.test import TestCase, override_settings

from accounts.verification import is_verified
from organizations import services as org_services
from organizations.models import Membership, User
from organizations.roles import Principal, Role
from sso import services
from sso.models import Connection, Domain
from tests.base import make_user
from tests.idp.harness import SamlProvider
from tests.test_sso_oidc import idp_url

SITE = "http://testserver"


@pytest.fixture(scope="class")
def saml_idp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SamlProvider]:
    with SamlProvider(tmp_path_factory.mktemp("saml")) as idp:
        request.cls.idp = idp
        yield idp


@pytest.mark.usefixtures("saml_idp")
@override_settings(SITE_URL=SITE, SSO_ALLOW_PRIVATE_URLS=True)
class SamlSignInTestCase(TestCase):
    idp: SamlProvider

    def setUp(self) -> None:
        # python3-saml reads the Host header, which browsers always send and Django's test client does not.
        self.client = self.client_class(HTTP_HOST="testserver")
        self.root = make_user("root@acme.test", "Root")
        self.org = org_services.organization_create(actor=Principal(self.root), name="Acme")
        actor = Principal(self.root)
        services.connection_save(actor=actor, org=self.org, protocol="saml", idp_metadata_url=self.idp.metadata_url)
        connection = services.connection_test(actor=actor, org=self.org)
        self.assertEqual(connection.last_error, "")
        services.connection_set_live(actor=actor, org=self.org, live=True)
        self.connection = Connection.objects.get(pk=connection.pk)
        # The IdP's admin registers our SP metadata, from the URL the settings page shows.
        metadata = self.client.get(self.connection.urls()["metadata_url"].removeprefix(SITE))
        self.assertEqual(metadata.status_code, 200)
        self.idp.register(metadata.content.decode())
        domain = services.domain_claim(actor=actor, org=self.org, domain="acme.test")
        Domain.objects.filter(pk=domain.pk).update(status=Domain.Status.VERIFIED)  # the DNS proof: tests/test_sso.py
        services.domain_activate(actor=actor, org=self.org, domain=domain)

    def respond(self, email: str, username: str) -> tuple[str, dict[str, str]]:
        url = idp_url(self, self.client.post("/sso/", {"email": email}), self.idp.base + "/sso/redirect?SAMLRequest=")
        acs, fields = self.idp.sign_in(url, username)
        self.assertEqual(acs, self.connection.urls()["acs_url"])
        return acs, fields

    def post_back(self, acs: str, fields: dict[str, str]):  # noqa: ANN201
        return self.client.post(acs.removeprefix(SITE), fields, follow=True)

    def sign_in(self, email: str, username: str):  # noqa: ANN201
        return self.post_back(*self.respond(email, username))

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
        self.assertEqual(Membership.objects.get(organization=self.org, user=user).role, Role.READ)

    def test_an_existing_account_is_linked(self) -> None:
        bob = make_user("bob@acme.test", "Bob")
        self.idp.add_user("bob", "bob@acme.test")
        self.assertEqual(self.assertSignedInAs(self.sign_in("bob@acme.test", "bob"), "bob@acme.test").pk, bob.pk)
        self.assertEqual(Membership.objects.get(organization=self.org, user=bob).role, Role.READ)

    def test_an_address_at_another_domain_is_refused(self) -> None:
        self.idp.add_user("eve", "eve@elsewhere.test")
        response = self.sign_in("someone@acme.test", "eve")
        self.assertRefused(response)
        self.assertContains(response, "not at a domain of Acme")
        self.assertFalse(User.objects.filter(email="eve@elsewhere.test").exists())

    def test_an_assertion_for_another_audience_is_refused(self) -> None:
        self.idp.add_user("wrongaud-ann", "ann@acme.test")
        with self.assertLogs("sso", "WARNING") as logs:
            self.assertRefused(self.sign_in("ann@acme.test", "wrongaud-ann"))
        self.assertIn("is not a valid audience", logs.output[-1])
        self.assertFalse(User.objects.filter(email="ann@acme.test").exists())

    def test_an_expired_assertion_is_refused(self) -> None:
        self.idp.add_user("expired-ann", "ann@acme.test")
        with self.assertLogs("sso", "WARNING") as logs:
            self.assertRefused(self.sign_in("ann@acme.test", "expired-ann"))
        self.assertIn("expired", logs.output[-1].lower())
        self.assertFalse(User.objects.filter(email="ann@acme.test").exists())

    def test_an_unsigned_assertion_is_refused(self) -> None:
        self.idp.add_user("unsigned-ann", "ann@acme.test")
        with self.assertLogs("sso", "WARNING") as logs:
            self.assertRefused(self.sign_in("ann@acme.test", "unsigned-ann"))
        self.assertIn("not signed", logs.output[-1])
        self.assertFalse(User.objects.filter(email="ann@acme.test").exists())

    def test_a_tampered_assertion_is_refused(self) -> None:
        self.idp.add_user("tina", "tina@acme.test")
        acs, fields = self.respond("tina@acme.test", "tina")
        xml = base64.b64decode(fields["SAMLResponse"]).replace(b"tina@acme.test", b"root@acme.test")
        fields["SAMLResponse"] = base64.b64encode(xml).decode()
        with self.assertLogs("sso", "WARNING") as logs:
            self.assertRefused(self.post_back(acs, fields))
        self.assertIn("Signature validation failed", logs.output[-1])

    def test_a_replayed_response_is_refused(self) -> None:
        self.idp.add_user("rick", "rick@acme.test")
        acs, fields = self.respond("rick@acme.test", "rick")
        self.assertSignedInAs(self.post_back(acs, fields), "rick@acme.test")
        self.client.post("/accounts/logout/")
        self.assertRefused(self.post_back(acs, fields))  # same browser: its request was answered already
        self.client.cookies.clear()
        self.assertRefused(self.post_back(acs, fields))  # another browser: it never asked


@pytest.mark.usefixtures("saml_idp")
@override_settings(SITE_URL=SITE, SSO_ALLOW_PRIVATE_URLS=True)
class SamlConnectionTestTestCase(TestCase):
    idp: SamlProvider

    def setUp(self) -> None:
        self.client = self.client_class(HTTP_HOST="testserver")
        self.root = make_user("root@acme.test")
        self.org = org_services.organization_create(actor=Principal(self.root), name="Acme")
        self.actor = Principal(self.root)

    def test_pasted_metadata_is_parsed_by_the_test(self) -> None:
        xml = requests.get(self.idp.metadata_url, timeout=10).text
        services.connection_save(actor=self.actor, org=self.org, protocol="saml", idp_metadata_xml=xml)
        connection = services.connection_test(actor=self.actor, org=self.org)
        self.assertEqual(connection.last_error, "")
        self.assertEqual(connection.idp_entity_id, self.idp.metadata_url)
        self.assertEqual(connection.idp_sso_url, self.idp.base + "/sso/redirect")
        self.assertTrue(connection.idp_x509cert)

    def test_metadata_that_is_not_saml_fails_clearly(self) -> None:
        services.connection_save(actor=self.actor, org=self.org, protocol="saml", idp_metadata_xml="<html>no</html>")
        connection = services.connection_test(actor=self.actor, org=self.org)
        self.assertIn("entity ID", connection.last_error)
        self.assertIsNone(connection.tested_at)

    def test_the_sp_metadata_is_served_before_the_connection_is_live(self) -> None:
        connection = services.connection_save(
            actor=self.actor, org=self.org, protocol="saml", idp_metadata_url=self.idp.metadata_url
        )
        response = self.client.get(connection.urls()["metadata_url"].removeprefix(SITE))
        self.assertEqual(response.status_code, 200)
        self.assertIn(connection.urls()["acs_url"].encode(), response.content)
        self.assertIn(f'entityID="{connection.urls()["entity_id"]}"'.encode(), response.content)
