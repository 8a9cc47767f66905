"""Single sign-on rules that need no identity provider: domains proved through a real DNS server, statuses,
who may manage it, what the audit log and the pages keep of a secret, and the enforcement of SSO on
passwords, resets and sign-ups with the super_admins' break-glass.

The sign-ins themselves, against real identity providers: tests/test_sso_oidc.py, tests/test_sso_saml.py
and tests/browser/test_sso.py.
"""

from __future__ import annotations

import json
import logging
import re

from allauth.mfa.models import Authenticator
from django.core import mail
from django.test import TestCase, override_settings
from django.utils import timezone

from organizations import services as org_services
from organizations.logging import redact
from organizations.models import AuditEvent, Membership
from organizations.roles import Principal, Role
from sso import crypto, services
from sso.exceptions import (
    ConnectionNotTested,
    DomainNotVerified,
    DomainTaken,
    InvalidDomain,
    NoLiveConnection,
    Requires2FAToEnforceSso,
    WrongDomainStatus,
)
from sso.models import Connection, Domain
from tests.base import link_in, make_key, make_user, totp_code
from tests.dns_server import DnsServer

SECRET = "client-secret-that-must-never-show-0123456789"
TOTP_SECRET = "JBSWY3DPEHPK3PXP"


def give_totp(user) -> None:  # noqa: ANN001
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": TOTP_SECRET})


class SsoTestCase(TestCase):
    """Acme (root@acme.test super_admin, adam@acme.test admin, pat@acme.test read) and Other (oscar)."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.root = make_user("root@acme.test", "Root")
        cls.adam = make_user("adam@acme.test", "Adam")
        cls.pat = make_user("pat@acme.test", "Pat")
        cls.oscar = make_user("oscar@other.test", "Oscar")
        cls.org = org_services.organization_create(actor=Principal(cls.root), name="Acme")
        Membership.objects.create(organization=cls.org, user=cls.adam, role=Role.ADMIN)
        Membership.objects.create(organization=cls.org, user=cls.pat, role=Role.READ)
        cls.other = org_services.organization_create(actor=Principal(cls.oscar), name="Other")
        cls.actor = Principal(cls.root)

    def live_connection(self, org=None) -> Connection:  # noqa: ANN001
        """A connection as if tested successfully (the tests against real IdPs test it for real)."""
        org = org or self.org
        connection = services.connection_save(
            actor=self.actor, org=org, protocol="oidc", issuer_url="https://idp.acme.test", client_id="acme",
            client_secret=SECRET,
        )  # fmt: skip
        Connection.objects.filter(pk=connection.pk).update(tested_at=timezone.now())
        return services.connection_set_live(actor=self.actor, org=org, live=True)

    def active_domain(self, name: str = "acme.test", *, enforce: bool = False) -> Domain:
        domain = services.domain_claim(actor=self.actor, org=self.org, domain=name)
        Domain.objects.filter(pk=domain.pk).update(status=Domain.Status.VERIFIED)
        domain = services.domain_activate(actor=self.actor, org=self.org, domain=domain)
        if enforce:
            Domain.objects.filter(pk=domain.pk).update(enforce_sso=True)
        return Domain.objects.get(pk=domain.pk)


class DomainProofTestCase(SsoTestCase):
    def test_a_claim_is_normalized_and_starts_pending_with_a_txt_record_to_add(self) -> None:
        domain = services.domain_claim(actor=self.actor, org=self.org, domain="  Jane@ACME.Test. ")
        self.assertEqual((domain.domain, domain.status), ("acme.test", Domain.Status.PENDING))
        self.assertEqual(domain.txt_name, "_capgo-sso.acme.test")
        self.assertTrue(domain.txt_value.startswith("capgo-sso-verification="))
        for bad in ("localhost", "acme", "127.0.0.1", "-acme.test", "acme..test", "a" * 64 + ".test"):
            with self.subTest(bad=bad), self.assertRaises(InvalidDomain):
                services.domain_claim(actor=self.actor, org=self.org, domain=bad)

    def test_the_txt_record_proves_the_domain_through_the_dns(self) -> None:
        domain = services.domain_claim(actor=self.actor, org=self.org, domain="acme.test")
        with DnsServer() as dns, override_settings(DNS_RESOLVER=dns.address):
            dns.add("_capgo-sso.acme.test", "TXT", "capgo-sso-verification=someone-elses-token")
            with self.assertRaisesMessage(DomainNotVerified, "_capgo-sso.acme.test"):
                services.domain_verify(actor=self.actor, org=self.org, domain=domain)
            dns.add("_capgo-sso.acme.test", "TXT", "v=spf1 -all", domain.txt_value)
            verified = services.domain_verify(actor=self.actor, org=self.org, domain=domain)
        self.assertEqual(verified.status, Domain.Status.VERIFIED)
        self.assertIn(("_capgo-sso.acme.test", "TXT"), dns.queries)
        event = AuditEvent.objects.filter(table_name="sso", operation="UPDATE").latest("id")
        self.assertEqual((event.old_record["status"], event.new_record["status"]), ("pending", "verified"))

    def test_without_an_answer_from_the_dns_nothing_is_proved(self) -> None:
        domain = services.domain_claim(actor=self.actor, org=self.org, domain="acme.test")
        with self.assertRaisesMessage(DomainNotVerified, "did not answer"):
            services.domain_verify(actor=self.actor, org=self.org, domain=domain)  # DNS_RESOLVER "none"
        self.assertEqual(Domain.objects.get(pk=domain.pk).status, Domain.Status.PENDING)

    def test_a_domain_another_organization_proved_cannot_be_claimed(self) -> None:
        self.live_connection()
        self.active_domain()
        with self.assertRaises(DomainTaken):
            services.domain_claim(actor=Principal(self.oscar), org=self.other, domain="ACME.test")
        self.assertFalse(Domain.objects.filter(organization=self.other).exists())

    def test_of_two_pending_claims_the_first_proof_wins(self) -> None:
        mine = services.domain_claim(actor=self.actor, org=self.org, domain="acme.test")
        theirs = services.domain_claim(actor=Principal(self.oscar), org=self.other, domain="acme.test")
        with DnsServer() as dns, override_settings(DNS_RESOLVER=dns.address):
            dns.add("_capgo-sso.acme.test", "TXT", mine.txt_value, theirs.txt_value)
            services.domain_verify(actor=self.actor, org=self.org, domain=mine)
            with self.assertRaises(DomainTaken):
                services.domain_verify(actor=Principal(self.oscar), org=self.other, domain=theirs)
        self.assertEqual(Domain.objects.get(pk=theirs.pk).status, Domain.Status.PENDING)

    def test_the_statuses_go_pending_verified_active_disabled_and_back(self) -> None:
        domain = services.domain_claim(actor=self.actor, org=self.org, domain="acme.test")
        with self.assertRaises(WrongDomainStatus):
            services.domain_activate(actor=self.actor, org=self.org, domain=domain)
        Domain.objects.filter(pk=domain.pk).update(status=Domain.Status.VERIFIED)
        with self.assertRaises(NoLiveConnection):
            services.domain_activate(actor=self.actor, org=self.org, domain=domain)
        self.live_connection()
        self.assertEqual(services.domain_activate(actor=self.actor, org=self.org, domain=domain).status, "active")
        give_totp(self.root)
        self.assertTrue(
            services.domain_set_enforced(actor=self.actor, org=self.org, domain=domain, enforce=True).enforce_sso
        )
        disabled = services.domain_disable(actor=self.actor, org=self.org, domain=domain)
        self.assertEqual((disabled.status, disabled.enforce_sso), ("disabled", False))
        with self.assertRaises(WrongDomainStatus):
            services.domain_set_enforced(actor=self.actor, org=self.org, domain=domain, enforce=True)
        self.assertEqual(services.domain_activate(actor=self.actor, org=self.org, domain=domain).status, "active")

    def test_requiring_sso_needs_a_second_factor_of_ones_own(self) -> None:
        self.live_connection()
        domain = self.active_domain()
        with self.assertRaises(Requires2FAToEnforceSso):
            services.domain_set_enforced(actor=self.actor, org=self.org, domain=domain, enforce=True)
        give_totp(self.root)
        self.assertTrue(
            services.domain_set_enforced(actor=self.actor, org=self.org, domain=domain, enforce=True).enforce_sso
        )


class ConnectionRulesTestCase(SsoTestCase):
    def test_the_client_secret_is_stored_encrypted_and_audited_only_as_set(self) -> None:
        connection = self.live_connection()
        self.assertNotIn(SECRET, connection.client_secret_encrypted)
        self.assertEqual(crypto.decrypt(connection.client_secret_encrypted), SECRET)
        services.connection_save(
            actor=self.actor, org=self.org, protocol="oidc", issuer_url="https://idp.acme.test", client_id="acme",
            client_secret=SECRET + "-new",
        )  # fmt: skip
        events = AuditEvent.objects.filter(org_id=self.org.id, table_name="sso")
        self.assertGreaterEqual(events.count(), 3)
        dumped = json.dumps([[e.old_record, e.new_record] for e in events])
        self.assertNotIn(SECRET, dumped)
        self.assertNotIn(Connection.objects.get().client_secret_encrypted, dumped)
        self.assertTrue(events.latest("id").new_record["client_secret_changed"])

    def test_a_connection_goes_live_only_once_tested(self) -> None:
        services.connection_save(
            actor=self.actor, org=self.org, protocol="oidc", issuer_url="https://idp.acme.test", client_id="a",
            client_secret="s",
        )  # fmt: skip
        with self.assertRaises(ConnectionNotTested):
            services.connection_set_live(actor=self.actor, org=self.org, live=True)

    def test_an_issuer_on_a_private_address_is_refused(self) -> None:
        for url in ("http://idp.acme.test", "https://127.0.0.1/o", "https://10.0.0.8/"):
            with self.subTest(url=url), self.assertRaises(Exception):  # noqa: B017 - InvalidIdpUrl
                services.connection_save(
                    actor=self.actor, org=self.org, protocol="oidc", issuer_url=url, client_id="a", client_secret="s"
                )
        with DnsServer() as dns, override_settings(DNS_RESOLVER=dns.address):
            dns.add("inside.acme.test", "A", "192.168.1.10")
            with self.assertRaisesMessage(Exception, "public host"):
                services.connection_save(
                    actor=self.actor, org=self.org, protocol="oidc", issuer_url="https://inside.acme.test",
                    client_id="a", client_secret="s",
                )  # fmt: skip
        self.assertFalse(Connection.objects.exists())

    def test_removing_the_connection_stops_its_domains(self) -> None:
        self.live_connection()
        domain = self.active_domain(enforce=True)
        services.connection_delete(actor=self.actor, org=self.org)
        domain.refresh_from_db()
        self.assertEqual((domain.status, domain.enforce_sso), (Domain.Status.VERIFIED, False))
        self.assertEqual(AuditEvent.objects.filter(table_name="sso", operation="DELETE").count(), 1)


class SsoPagesTestCase(SsoTestCase):
    def test_no_page_lists_the_organizations_that_have_a_connection(self) -> None:
        self.live_connection()
        self.client.force_login(self.oscar)
        response = self.client.get("/accounts/3rdparty/")
        self.assertEqual(response.status_code, 200)
        self.assertNotContains(response, "Acme")
        self.assertNotContains(response, "sso-")

    def test_super_admins_see_the_section_admins_do_not_and_cannot_post(self) -> None:
        self.client.force_login(self.root)
        response = self.client.get(f"/orgs/{self.org.id}/settings/")
        self.assertContains(response, 'id="sso"')
        self.client.force_login(self.adam)
        response = self.client.get(f"/orgs/{self.org.id}/settings/")
        self.assertEqual(response.status_code, 200)
        self.assertNotContains(response, 'id="sso"')
        self.assertEqual(
            self.client.post(f"/orgs/{self.org.id}/sso/domains/", {"domain": "acme.test"}).status_code, 403
        )
        self.assertEqual(self.client.get(f"/orgs/{self.org.id}/sso/connection/").status_code, 403)
        self.client.force_login(self.oscar)
        self.assertEqual(
            self.client.post(f"/orgs/{self.org.id}/sso/domains/", {"domain": "acme.test"}).status_code, 404
        )
        self.assertFalse(Domain.objects.exists())

    def test_the_secret_is_never_shown_again_and_the_urls_to_copy_are(self) -> None:
        self.client.force_login(self.root)
        response = self.client.post(
            f"/orgs/{self.org.id}/sso/connection/",
            {
                "protocol": "oidc",
                "issuer_url": "https://idp.acme.test",
                "client_id": "acme",
                "client_secret": SECRET,
                "default_role": "write",
            },  # fmt: skip
            follow=True,
        )
        connection = Connection.objects.get()
        self.assertContains(response, connection.urls()["redirect_uri"])
        self.assertContains(response, "set (hidden)")
        self.assertNotContains(response, SECRET)
        self.assertNotContains(self.client.get(f"/orgs/{self.org.id}/sso/connection/"), SECRET)
        self.assertNotContains(self.client.get(f"/orgs/{self.org.id}/audit/"), SECRET)
        self.assertEqual(connection.default_role, Role.WRITE)
        # Changing the role keeps the secret (the field is left empty).
        self.client.post(
            f"/orgs/{self.org.id}/sso/connection/",
            {"protocol": "oidc", "issuer_url": "https://idp.acme.test", "client_id": "acme", "default_role": "read"},
        )
        self.assertEqual(crypto.decrypt(Connection.objects.get().client_secret_encrypted), SECRET)

    def test_a_claimed_domain_shows_its_txt_record_and_status(self) -> None:
        self.client.force_login(self.root)
        response = self.client.post(f"/orgs/{self.org.id}/sso/domains/", {"domain": "acme.test"}, follow=True)
        domain = Domain.objects.get()
        self.assertContains(response, domain.txt_value)
        self.assertContains(response, 'data-status="pending"')
        response = self.client.post(f"/orgs/{self.org.id}/sso/domains/{domain.pk}/verify/", follow=True)
        self.assertContains(response, "_capgo-sso.acme.test")  # not verified: the DNS does not answer here
        response = self.client.post(f"/orgs/{self.org.id}/sso/domains/", {"domain": "acme.test"}, follow=True)
        self.assertContains(response, "claimed this domain already")


class EnforcementTestCase(SsoTestCase):
    def setUp(self) -> None:
        self.live_connection()
        self.domain = self.active_domain(enforce=True)

    def login(self, email: str, password: str = "password-123"):  # noqa: ANN201
        return self.client.post("/accounts/login/", {"login": email, "password": password})

    def test_a_password_login_at_the_domain_is_refused_with_a_pointer_to_sso(self) -> None:
        for password in ("password-123", "wrong-password"):
            with self.subTest(password=password):
                response = self.login("pat@acme.test", password)
                self.assertContains(response, "Sign in with SSO")
                self.assertContains(response, "single sign-on")
                self.assertNotIn("_auth_user_id", self.client.session)

    def test_the_super_admin_with_a_second_factor_keeps_the_password_as_break_glass(self) -> None:
        give_totp(self.root)
        response = self.login("root@acme.test")
        self.assertRedirects(response, "/accounts/2fa/authenticate/", fetch_redirect_response=False)
        response = self.client.post("/accounts/2fa/authenticate/", {"code": totp_code(TOTP_SECRET)})
        self.assertEqual(str(self.client.session["_auth_user_id"]), str(self.root.pk))

    def test_a_super_admin_without_a_second_factor_is_refused_too(self) -> None:
        self.assertContains(self.login("root@acme.test"), "Sign in with SSO")
        self.assertNotIn("_auth_user_id", self.client.session)

    def test_other_domains_and_a_connection_turned_off_keep_passwords(self) -> None:
        self.login("oscar@other.test")
        self.assertEqual(str(self.client.session["_auth_user_id"]), str(self.oscar.pk))
        self.client.post("/accounts/logout/")
        services.connection_set_live(actor=self.actor, org=self.org, live=False)
        self.login("pat@acme.test")
        self.assertEqual(str(self.client.session["_auth_user_id"]), str(self.pat.pk))

    def test_no_password_reset_at_the_domain(self) -> None:
        response = self.client.post("/accounts/password/reset/", {"email": "pat@acme.test"})
        self.assertContains(response, "Sign in with SSO")
        self.assertEqual(len(mail.outbox), 0)

    def test_a_reset_link_sent_before_enforcement_does_not_log_in(self) -> None:
        Domain.objects.filter(pk=self.domain.pk).update(enforce_sso=False)
        with self.captureOnCommitCallbacks(execute=True):
            self.client.post("/accounts/password/reset/", {"email": "pat@acme.test"})
        link = link_in(mail.outbox[-1], "/accounts/password/reset/key/")
        Domain.objects.filter(pk=self.domain.pk).update(enforce_sso=True)
        response = self.client.get(link.split("testserver", 1)[-1].split("8000", 1)[-1], follow=True)
        new = "another-long-pass-phrase-42"
        response = self.client.post(response.redirect_chain[-1][0], {"password1": new, "password2": new}, follow=True)
        self.assertNotIn("_auth_user_id", self.client.session)
        self.assertContains(response, "Sign in with SSO")

    def test_no_sign_up_at_the_domain(self) -> None:
        response = self.client.post(
            "/accounts/signup/",
            {
                "email": "new@acme.test",
                "name": "New",
                "password1": "a-long-pass-phrase-1",
                "password2": "a-long-pass-phrase-1",
            },
        )
        self.assertContains(response, "Sign in with SSO")
        self.assertFalse(Membership.objects.filter(user__email="new@acme.test").exists())
        self.assertEqual(mail.outbox, [])

    def test_api_keys_keep_working(self) -> None:
        key = make_key(self.pat, "read")[1]
        response = self.client.get(f"/organization/?orgId={self.org.id}", HTTP_AUTHORIZATION=key)
        self.assertEqual(response.status_code, 200)


class NoSecretInLogsTestCase(SsoTestCase):
    def test_secrets_codes_and_assertions_are_redacted(self) -> None:
        for line, secret in (
            (f"client_secret={SECRET}", SECRET),
            ("GET /accounts/oidc/sso-ab12/login/callback/?code=abcdefghijk123&state=XYZstate123", "abcdefghijk123"),
            ("SAMLResponse=PHNhbWxwOlJlc3BvbnNlIHhtbG5zOnNhbWxwPSJ1", "PHNhbWxwOlJlc3BvbnNl"),
            (f"token {crypto.encrypt(SECRET)}", crypto.encrypt(SECRET)[:40]),
        ):
            with self.subTest(line=line[:30]):
                self.assertNotIn(secret, redact(line))

    def test_a_connection_saved_and_tested_at_debug_level_logs_no_secret(self) -> None:
        with self.assertLogs(level=logging.DEBUG) as logs:
            logging.getLogger().setLevel(logging.DEBUG)
            try:
                self.live_connection()
                services.connection_test(actor=self.actor, org=self.org)
            finally:
                logging.getLogger().setLevel(logging.INFO)
        text = "\n".join(logs.output)
        self.assertNotIn(SECRET, text)
        self.assertIsNone(re.search(r"gAAAAA[\w-]{20,}", text))


class SsoAdminTestCase(SsoTestCase):
    """Staff look after an organization's single sign-on in the admin, through the same services."""

    def setUp(self) -> None:
        self.staff = make_user("staff@capgo.test", "Staff")
        self.staff.is_staff = self.staff.is_superuser = True
        self.staff.save()
        self.client.force_login(self.staff)

    def test_staff_set_up_a_connection_that_is_audited_with_them_as_actor_and_never_show_its_secret(self) -> None:
        response = self.client.post(
            "/admin/sso/connection/add/",
            {
                "organization": self.org.pk,
                "protocol": "oidc",
                "issuer_url": "https://idp.acme.test",
                "client_id": "c",
                "client_secret": SECRET,
                "idp_metadata_url": "",
                "idp_metadata_xml": "",
                "default_role": "upload",
            },  # fmt: skip
        )
        self.assertEqual(response.status_code, 302, response.content[:2000])
        connection = Connection.objects.get()
        self.assertEqual(
            (connection.default_role, crypto.decrypt(connection.client_secret_encrypted)), ("upload", SECRET)
        )
        event = AuditEvent.objects.get(table_name="sso", operation="INSERT")
        self.assertEqual(event.actor_user_email, "staff@capgo.test")
        page = self.client.get(f"/admin/sso/connection/{connection.pk}/change/")
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, SECRET)
        self.assertNotContains(page, connection.client_secret_encrypted)

    def test_staff_move_a_domain_through_its_statuses_with_the_actions(self) -> None:
        self.live_connection()
        self.client.post("/admin/sso/domain/add/", {"organization": self.org.pk, "domain": "Acme.test"})
        domain = Domain.objects.get()
        self.assertEqual((domain.domain, domain.status), ("acme.test", "pending"))
        with DnsServer() as dns, override_settings(DNS_RESOLVER=dns.address):
            dns.add(domain.txt_name, "TXT", domain.txt_value)
            for action in ("verify", "activate", "enforce"):
                self.client.post("/admin/sso/domain/", {"action": action, "_selected_action": [domain.pk]})
        domain.refresh_from_db()
        self.assertEqual((domain.status, domain.enforce_sso), ("active", True))
        self.assertEqual(
            list(
                AuditEvent.objects.filter(table_name="sso", record_id=domain.pk).values_list(
                    "actor_user_email", flat=True
                )
            ),
            ["staff@capgo.test"] * 4,
        )
