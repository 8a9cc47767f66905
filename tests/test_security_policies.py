"""Organization security policies (the contract's section): enforcing 2FA and a password policy.

A member who does not comply is refused every call that names the organization, through a
session and through every key mode, after the 404 and 401 checks and before the role check;
the organization list, leaving, and an admin's change of the two policy fields stay open.
"""

from __future__ import annotations

from typing import Any

from allauth.mfa.models import Authenticator
from django.test import Client

from organizations.models import AuditEvent, Membership, Organization, User
from organizations.roles import KeyMode, Role
from tests.base import ApiTestCase, make_key, make_user

ORG = "/organization/"
MEMBERS = "/organization/members/"
SECURITY = "/organization/security/"
AUDIT = "/organization/audit/"
POLICY = {"enabled": True, "min_length": 12, "require_uppercase": True, "require_number": True,
          "require_special": False}  # fmt: skip
COMPLIANT = "Compliant-Passw0rd"
WEAK = "password-123"


def give_2fa(user: User) -> None:
    Authenticator.objects.create(user=user, type=Authenticator.Type.TOTP, data={"secret": "JBSWY3DPEHPK3PXP"})


class PolicyTestCase(ApiTestCase):
    def enforce_2fa(self) -> None:
        Organization.objects.filter(pk=self.org.pk).update(enforcing_2fa=True)

    def set_policy(self, config: dict[str, Any] | None = POLICY) -> None:
        Organization.objects.filter(pk=self.org.pk).update(password_policy_config=config)

    def log_in(self, email: str, password: str) -> Client:
        client = Client()
        r = client.post("/accounts/login/", {"login": email, "password": password})
        self.assertEqual(r.status_code, 302, r.content)
        return client


class Enforce2FATestCase(PolicyTestCase):
    def test_enabling_without_a_second_factor_of_ones_own_is_refused(self) -> None:
        r = self.put(ORG, {"orgId": self.org.id, "enforcing_2fa": True}, key=self.key["all"])
        body = self.assertError(r, 400, "requires_2fa_to_enforce_2fa")
        self.assertEqual(body["error"], "You must enable 2FA before enforcing it for your organization")
        self.org.refresh_from_db()
        self.assertFalse(self.org.enforcing_2fa)

    def test_with_a_second_factor_it_is_enabled_and_audited(self) -> None:
        give_2fa(self.alice)
        r = self.put(ORG, {"orgId": self.org.id, "enforcing_2fa": True}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertIs(r.json()["data"]["enforcing_2fa"], True)
        event = AuditEvent.objects.filter(table_name="orgs", operation="UPDATE").latest("id")
        self.assertEqual(event.changed_fields, ["enforcing_2fa"])
        self.assertIs(self.get(ORG, {"orgId": self.org.id}, key=self.key["read"]).json()["data"]["enforcing_2fa"], True)

    def test_turning_it_off_needs_only_the_role(self) -> None:
        self.enforce_2fa()
        give_2fa(self.adam)  # adam complies; alice has no second factor and is refused everything else
        r = self.put(ORG, {"orgId": self.org.id, "enforcing_2fa": False}, key=self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        self.assertIs(r.json()["data"]["enforcing_2fa"], False)

    def test_every_call_naming_the_organization_is_refused_to_a_member_without_2fa(self) -> None:
        self.enforce_2fa()
        calls = [
            ("get", ORG, {"orgId": self.org.id}),
            ("get", MEMBERS, {"orgId": self.org.id}),
            ("get", AUDIT, {"orgId": self.org.id}),
            ("get", SECURITY, {"orgId": self.org.id}),
            ("put", ORG, {"orgId": self.org.id, "name": "Renamed"}),
            ("post", MEMBERS, {"orgId": self.org.id, "email": "x@example.org", "role": "read"}),
            ("delete", ORG, {"orgId": self.org.id}),
        ]
        for mode in KeyMode.values:
            for method, path, data in calls:
                if method != "get" and mode in (KeyMode.READ, KeyMode.UPLOAD):
                    continue  # their mode refuses first (403 key_mode_forbidden)
                with self.subTest(mode=mode, method=method, path=path):
                    self.assertError(getattr(self, method)(path, data, key=self.key[mode]), 403, "org_requires_2fa")
        session = Client()
        session.force_login(self.rita)
        r = session.get(MEMBERS, {"orgId": self.org.id})
        self.assertEqual((r.status_code, r.json()["code"]), (403, "org_requires_2fa"))
        self.assertTrue(Organization.objects.filter(pk=self.org.pk, name="Alice Org").exists())

    def test_the_refusal_comes_after_not_found_and_before_the_role(self) -> None:
        self.enforce_2fa()
        # An outsider still gets the same 404 as for a missing organization.
        self.assertError(self.get(ORG, {"orgId": self.org.id}, key=self.oscar_key), 404, "org_not_found")
        # A reader asking for the audit log hears about 2FA, not about their role.
        self.assertError(self.get(AUDIT, {"orgId": self.org.id}, key=self.rita_key), 403, "org_requires_2fa")
        give_2fa(self.rita)
        self.assertError(self.get(AUDIT, {"orgId": self.org.id}, key=self.rita_key), 403, "insufficient_role")
        # An expiring-key policy (401) is answered before the 2FA rule.
        Organization.objects.filter(pk=self.org.pk).update(require_apikey_expiration=True)
        self.assertError(self.get(ORG, {"orgId": self.org.id}, key=self.adam_key), 401, "org_requires_expiring_key")

    def test_the_list_leaving_and_the_policy_fields_stay_open(self) -> None:
        self.enforce_2fa()
        listed = self.get(ORG, key=self.rita_key).json()["data"]
        self.assertEqual([o["id"] for o in listed], [self.org.id])
        # An admin without 2FA may change the two policy fields, and nothing else.
        r = self.put(ORG, {"orgId": self.org.id, "password_policy_config": POLICY}, key=self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertError(
            self.put(ORG, {"orgId": self.org.id, "name": "Sneaky", "enforcing_2fa": False}, key=self.adam_key),
            403,
            "org_requires_2fa",
        )
        self.assertEqual(
            self.put(ORG, {"orgId": self.org.id, "enforcing_2fa": False}, key=self.adam_key).status_code, 200
        )
        self.enforce_2fa()
        # A member without 2FA may leave, but not remove anyone else.
        self.assertError(
            self.delete(MEMBERS, {"orgId": self.org.id, "email": self.rita.email}, key=self.adam_key),
            403,
            "org_requires_2fa",
        )
        self.assertEqual(
            self.delete(MEMBERS, {"orgId": self.org.id, "email": self.rita.email}, key=self.rita_key).status_code, 200
        )
        self.assertFalse(Membership.objects.filter(organization=self.org, user=self.rita).exists())

    def test_a_member_with_a_second_factor_is_let_through_by_every_key(self) -> None:
        self.enforce_2fa()
        give_2fa(self.alice)
        for mode in KeyMode.values:
            with self.subTest(mode=mode):
                self.assertEqual(self.get(MEMBERS, {"orgId": self.org.id}, key=self.key[mode]).status_code, 200)

    def test_recovery_codes_alone_are_not_a_second_factor(self) -> None:
        self.enforce_2fa()
        Authenticator.objects.create(user=self.rita, type=Authenticator.Type.RECOVERY_CODES, data={"seed": "x"})
        self.assertError(self.get(ORG, {"orgId": self.org.id}, key=self.rita_key), 403, "org_requires_2fa")

    def test_the_check_costs_no_query(self) -> None:
        give_2fa(self.alice)
        self.get(ORG, {"orgId": self.org.id}, key=self.key["read"])  # last_used_at written once
        with self.assertNumQueries(1):  # the key with the organization, the role and the policy facts
            self.assertEqual(self.get(ORG, {"orgId": self.org.id}, key=self.key["read"]).status_code, 200)
        self.enforce_2fa()
        with self.assertNumQueries(1):
            self.assertEqual(self.get(ORG, {"orgId": self.org.id}, key=self.key["read"]).status_code, 200)
        self.get(ORG, key=self.rita_key)  # her key's last_used_at written once
        with self.assertNumQueries(1):
            self.assertError(self.get(ORG, {"orgId": self.org.id}, key=self.rita_key), 403, "org_requires_2fa")


class PasswordPolicyTestCase(PolicyTestCase):
    def test_invalid_configurations_are_invalid_body(self) -> None:
        bad = [
            {"enabled": True},
            {**POLICY, "min_length": 5},
            {**POLICY, "min_length": 73},
            {**POLICY, "min_length": "12"},
            {**POLICY, "min_length": 12.0},
            {**POLICY, "min_length": True},
            {**POLICY, "require_number": "yes"},
            {**POLICY, "extra": True},
            "strict",
            [POLICY],
        ]
        for config in bad:
            with self.subTest(config=config):
                r = self.put(ORG, {"orgId": self.org.id, "password_policy_config": config}, key=self.key["all"])
                self.assertError(r, 400, "invalid_body")
        self.org.refresh_from_db()
        self.assertIsNone(self.org.password_policy_config)
        for length in (6, 72):
            r = self.put(
                ORG,
                {"orgId": self.org.id, "password_policy_config": {**POLICY, "min_length": length}},
                key=self.key["all"],
            )
            self.assertEqual(r.status_code, 200, r.content)
        r = self.put(ORG, {"orgId": self.org.id, "password_policy_config": None}, key=self.key["all"])
        self.assertIsNone(r.json()["data"]["password_policy_config"])

    def test_members_comply_once_a_password_login_met_the_current_policy(self) -> None:
        r = self.put(ORG, {"orgId": self.org.id, "password_policy_config": POLICY}, key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        self.assertEqual(
            AuditEvent.objects.filter(table_name="orgs").latest("id").changed_fields, ["password_policy_config"]
        )
        # Nobody's password was checked against it yet, the admin's included (through the API).
        self.assertError(self.get(ORG, {"orgId": self.org.id}, key=self.wendy_key), 403, "org_requires_password_policy")
        self.log_in(self.wendy.email, WEAK)  # a password that does not meet it changes nothing
        self.assertError(self.get(ORG, {"orgId": self.org.id}, key=self.wendy_key), 403, "org_requires_password_policy")
        self.wendy.set_password(COMPLIANT)
        self.wendy.save()
        self.log_in(self.wendy.email, COMPLIANT)
        self.assertEqual(self.get(ORG, {"orgId": self.org.id}, key=self.wendy_key).status_code, 200)
        self.assertNotIn(COMPLIANT, str(Membership.objects.filter(user=self.wendy).values()))
        # Any change of the policy asks everyone again.
        self.set_policy({**POLICY, "require_special": True})
        self.assertError(self.get(ORG, {"orgId": self.org.id}, key=self.wendy_key), 403, "org_requires_password_policy")
        # Switched off, nobody is asked.
        self.set_policy({**POLICY, "enabled": False})
        self.assertEqual(self.get(ORG, {"orgId": self.org.id}, key=self.wendy_key).status_code, 200)

    def test_a_new_password_is_checked_when_it_is_set(self) -> None:
        self.set_policy()
        client = self.log_in(self.wendy.email, WEAK)
        r = client.post(
            "/accounts/password/change/", {"oldpassword": WEAK, "password1": COMPLIANT, "password2": COMPLIANT}
        )
        self.assertEqual(r.status_code, 302)
        self.assertEqual(self.get(ORG, {"orgId": self.org.id}, key=self.wendy_key).status_code, 200)

    def test_the_admin_keeps_the_right_to_change_the_policy_fields(self) -> None:
        self.set_policy()
        self.assertError(
            self.put(ORG, {"orgId": self.org.id, "name": "Xyz"}, key=self.adam_key), 403, "org_requires_password_policy"
        )
        r = self.put(ORG, {"orgId": self.org.id, "password_policy_config": None}, key=self.adam_key)
        self.assertEqual(r.status_code, 200, r.content)
        self.assertEqual(self.get(ORG, {"orgId": self.org.id}, key=self.rita_key).status_code, 200)


class SecurityReportTestCase(PolicyTestCase):
    def report(self, key: str | None = None) -> dict[str, Any]:
        r = self.get(SECURITY, {"orgId": self.org.id}, key=key or self.key["all"])
        self.assertEqual(r.status_code, 200, r.content)
        return r.json()

    def test_it_reports_each_member_before_and_after_they_comply(self) -> None:
        body = self.report()
        self.assertEqual(body["enforcing_2fa"], False)
        self.assertIsNone(body["password_policy_config"])
        rows = {row["email"]: row for row in body["data"]}
        self.assertEqual(set(rows), {"alice@example.org", "adam@example.org", "wendy@example.org", "rita@example.org"})
        self.assertEqual(
            rows["rita@example.org"],
            {"uid": str(self.rita.pk), "email": "rita@example.org", "role": "read", "2fa_enabled": False,
             "password_policy_compliant": None},
        )  # fmt: skip
        give_2fa(self.rita)
        self.set_policy()
        self.alice.set_password(COMPLIANT)  # the admin who reads the report complies herself
        self.alice.save()
        self.log_in(self.alice.email, COMPLIANT)
        rows = {row["email"]: row for row in self.report()["data"]}
        self.assertIs(rows["rita@example.org"]["2fa_enabled"], True)
        self.assertIs(rows["rita@example.org"]["password_policy_compliant"], False)
        self.rita.set_password(COMPLIANT)
        self.rita.save()
        self.log_in(self.rita.email, COMPLIANT)
        rows = {row["email"]: row for row in self.report()["data"]}
        self.assertIs(rows["rita@example.org"]["password_policy_compliant"], True)
        self.assertIs(rows["wendy@example.org"]["password_policy_compliant"], False)

    def test_pending_invitations_are_not_listed_and_readers_may_not_look(self) -> None:
        self.post(MEMBERS, {"orgId": self.org.id, "email": "new@example.org", "role": "read"}, key=self.key["all"])
        self.assertNotIn("new@example.org", {row["email"] for row in self.report()["data"]})
        self.assertError(self.get(SECURITY, {"orgId": self.org.id}, key=self.rita_key), 403, "insufficient_role")
        self.assertError(self.get(SECURITY, {"orgId": self.org.id}, key=self.oscar_key), 404, "org_not_found")
        self.assertError(self.get(SECURITY, key=self.key["all"]), 400, "invalid_body")


class PolicyPagesTestCase(PolicyTestCase):
    def test_a_member_without_2fa_sees_what_is_required_on_every_page_and_can_leave(self) -> None:
        self.enforce_2fa()
        client = Client()
        client.force_login(self.wendy)
        for path in (f"/orgs/{self.org.id}/members/", f"/orgs/{self.org.id}/audit/", f"/orgs/{self.org.id}/"):
            with self.subTest(path=path):
                r = client.get(path)
                self.assertContains(r, "This organization requires two-factor authentication", status_code=403)
                self.assertContains(r, 'id="setup-2fa"', status_code=403)
        self.assertContains(client.get("/orgs/"), f'id="needs-2fa-{self.org.id}"')
        # Leaving asks first, even here; then it works.
        self.assertContains(client.get(f"/orgs/{self.org.id}/leave/"), 'id="confirm-submit"')
        r = client.post(f"/orgs/{self.org.id}/leave/", follow=True)
        self.assertSays(r, "You left Alice Org.")

    def test_a_member_confirms_a_compliant_password_on_the_page(self) -> None:
        self.set_policy()
        client = Client()
        client.force_login(self.wendy)
        r = client.get(f"/orgs/{self.org.id}/members/")
        self.assertContains(r, "at least 12 characters", status_code=403)
        confirm = f"/orgs/{self.org.id}/password/confirm/"
        self.assertContains(client.post(confirm, {"password": "wrong"}), "This is not your password.", status_code=400)
        r = client.post(confirm, {"password": WEAK})
        self.assertContains(r, "Your password does not meet the policy", status_code=400)
        self.wendy.set_password(COMPLIANT)
        self.wendy.save()
        client.force_login(self.wendy)
        r = client.post(confirm, {"password": COMPLIANT}, follow=True)
        self.assertContains(r, "Your password meets the policy of Alice Org.")
        self.assertEqual(client.get(f"/orgs/{self.org.id}/members/").status_code, 200)

    def test_the_security_section_lists_who_would_be_locked_out_and_asks_first(self) -> None:
        give_2fa(self.alice)
        give_2fa(self.adam)
        client = Client()
        client.force_login(self.alice)
        settings_page = client.get(f"/orgs/{self.org.id}/settings/")
        self.assertContains(settings_page, 'id="all-comply"')
        form = {"enforcing_2fa": "on", "min_length": "10"}
        r = client.post(f"/orgs/{self.org.id}/settings/security/", form)
        self.assertContains(r, "2 members will be locked out until they comply:")
        self.assertContains(r, "wendy@example.org")
        self.assertContains(r, "Save and lock out 2 members")
        self.org.refresh_from_db()
        self.assertFalse(self.org.enforcing_2fa)  # nothing saved before the confirmation
        r = client.post(f"/orgs/{self.org.id}/settings/security/", {**form, "confirmed": "on"}, follow=True)
        self.assertContains(r, "The security policies were saved.")
        self.org.refresh_from_db()
        self.assertTrue(self.org.enforcing_2fa)
        self.assertContains(r, 'data-email="rita@example.org"')  # now in the list of members who do not comply

    def test_setting_a_password_policy_needs_the_admins_own_compliant_password(self) -> None:
        client = Client()
        client.force_login(self.alice)
        url = f"/orgs/{self.org.id}/settings/security/"
        form = {"policy_enabled": "on", "min_length": "12", "require_uppercase": "on", "require_number": "on",
                "confirmed": "on"}  # fmt: skip
        self.assertContains(client.post(url, form), "Enter your password", status_code=400)
        self.assertContains(
            client.post(url, {**form, "password": "not-hers"}), "This is not your password.", status_code=400
        )
        self.assertContains(
            client.post(url, {**form, "password": WEAK}), "does not meet the new policy", status_code=400
        )
        self.alice.set_password(COMPLIANT)
        self.alice.save()
        client.force_login(self.alice)
        r = client.post(url, {**form, "password": COMPLIANT}, follow=True)
        self.assertContains(r, "The security policies were saved.")
        self.assertEqual(client.get(f"/orgs/{self.org.id}/members/").status_code, 200)  # not locked out herself
        self.assertError(self.get(ORG, {"orgId": self.org.id}, key=self.wendy_key), 403, "org_requires_password_policy")

    def test_staff_change_the_policies_in_the_admin_under_the_same_rules(self) -> None:
        staff = make_user("staff@example.org")
        User.objects.filter(pk=staff.pk).update(is_staff=True, is_superuser=True)
        client = Client()
        client.force_login(staff)
        url = f"/admin/organizations/organization/{self.org.pk}/change/"
        data = {"name": "Alice Org", "management_email": "alice@example.org", "enforcing_2fa": "on",
                "password_policy_config": "null", "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
                "invitations-TOTAL_FORMS": "0", "invitations-INITIAL_FORMS": "0"}  # fmt: skip
        r = client.post(url, data)
        self.assertEqual(r.status_code, 200, r.get("Location"))
        self.assertContains(r, "You must enable 2FA before enforcing it for your organization")
        give_2fa(staff)
        r = client.post(url, data)
        self.assertEqual(r.status_code, 302, r.content[-2000:])
        self.org.refresh_from_db()
        self.assertTrue(self.org.enforcing_2fa)
        event = AuditEvent.objects.filter(table_name="orgs", operation="UPDATE").latest("id")
        self.assertEqual((event.changed_fields, event.actor_user_email), (["enforcing_2fa"], "staff@example.org"))


class NewMemberTestCase(PolicyTestCase):
    def test_an_invited_person_may_join_and_is_then_asked_to_comply(self) -> None:
        self.enforce_2fa()
        give_2fa(self.alice)
        newcomer = make_user("newcomer@example.org")
        key = make_key(newcomer)[1]
        self.post(MEMBERS, {"orgId": self.org.id, "email": newcomer.email, "role": Role.WRITE}, key=self.key["all"])
        self.assertEqual(self.post("/organization/members/accept/", {"orgId": self.org.id}, key=key).status_code, 200)
        self.assertError(self.get(ORG, {"orgId": self.org.id}, key=key), 403, "org_requires_2fa")
