"""The Django admin: a second write path, so its writes go through the services.

A staff superuser (not a member of any organization) works in the admin; the last-super_admin
rule and the audit log must hold exactly as they do through the API.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from unittest import mock

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.contrib.admin.models import LogEntry
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import TestCase
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.verification import is_verified
from organizations import api_keys, services
from organizations.models import ApiKey, AuditEvent, Invitation, Membership, Organization, User
from organizations.roles import Principal, Role
from tests.base import ApiTestCase, make_user


def admin_url(model: str, view: str, *args: Any) -> str:
    # Quoted as the admin's own links are: "org_2f…" would otherwise be read as "org/…".
    return reverse(f"admin:organizations_{model}_{view}", args=[quote(arg) for arg in args])


def messages_of(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def form_data(response: Any) -> dict[str, Any]:
    """What the rendered change form (main form and inlines) would post back unchanged."""
    data: dict[str, Any] = {}

    def add(form: Any) -> None:
        for name, field in form.fields.items():
            value = form[name].value()
            if field.disabled or value is None or value is False:
                continue
            data[form.add_prefix(name)] = "on" if value is True else value

    add(response.context["adminform"].form)
    for inline in response.context["inline_admin_formsets"]:
        add(inline.formset.management_form)
        for form in inline.formset.forms:
            add(form)
    return data


def inline_prefix(response: Any, user: User) -> str:
    """The form prefix of `user`'s row in the organization page's member inline."""
    for inline in response.context["inline_admin_formsets"]:
        for form in inline.formset.forms:
            if isinstance(form.instance, Membership) and form.instance.user_id == user.pk:
                return form.prefix
    raise AssertionError(f"{user.email} is not in the member inline")


class AdminTestCase(ApiTestCase):
    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.staff = User.objects.create_superuser("staff@example.org", "password-123")

    def setUp(self) -> None:
        self.client.force_login(self.staff)

    def membership(self, user: User, org: Organization | None = None) -> Membership:
        return Membership.objects.get(user=user, organization=org or self.org)

    def key_object(self, plaintext: str) -> ApiKey:
        return ApiKey.objects.get(lookup=api_keys.parse_lookup(plaintext))

    def staff_events(self, **filters: Any) -> Any:
        return AuditEvent.objects.filter(actor_type="user", actor_user_email=self.staff.email, **filters)


class MembershipAdminTestCase(AdminTestCase):
    def test_changing_a_writer_to_admin_goes_through_the_service(self) -> None:
        membership = self.membership(self.wendy)
        r = self.client.post(admin_url("membership", "change", membership.pk), {"role": Role.ADMIN})
        self.assertEqual(r.status_code, 302)
        self.assertEqual(self.membership(self.wendy).role, Role.ADMIN)
        event = self.staff_events(table_name="org_users", operation="UPDATE", record_id=str(self.wendy.pk)).get()
        self.assertEqual(event.org_id, self.org.id)
        self.assertEqual(event.actor_user_id, str(self.staff.pk))
        self.assertEqual((event.old_record["role"], event.new_record["role"]), (Role.WRITE, Role.ADMIN))

    def test_demoting_the_only_super_admin_is_refused_and_not_saved(self) -> None:
        membership = self.membership(self.alice)
        r = self.client.post(admin_url("membership", "change", membership.pk), {"role": Role.ADMIN})
        self.assertEqual(r.status_code, 200)
        self.assertContains(r, "Not saved: Cannot remove the last super admin")
        self.assertEqual(self.membership(self.alice).role, Role.SUPER_ADMIN)
        self.assertFalse(AuditEvent.objects.filter(record_id=str(self.alice.pk), operation="UPDATE").exists())

    def test_a_refusal_at_save_time_saves_nothing_and_says_so(self) -> None:
        # As when a concurrent change slips in between the form's dry run and the save.
        with mock.patch("organizations.admin.dry_run"):
            r = self.client.post(
                admin_url("membership", "change", self.membership(self.alice).pk), {"role": Role.ADMIN}, follow=True
            )
        self.assertEqual(messages_of(r), ["Not saved: Cannot remove the last super admin"])
        self.assertEqual(self.membership(self.alice).role, Role.SUPER_ADMIN)
        self.assertFalse(LogEntry.objects.exists())

    def test_a_super_admin_can_be_demoted_once_there_is_another(self) -> None:
        Membership.objects.filter(pk=self.membership(self.adam).pk).update(role=Role.SUPER_ADMIN)
        r = self.client.post(admin_url("membership", "change", self.membership(self.alice).pk), {"role": Role.READ})
        self.assertEqual(r.status_code, 302)
        self.assertEqual(self.membership(self.alice).role, Role.READ)

    def test_deleting_the_only_super_admins_membership_is_refused(self) -> None:
        membership = self.membership(self.alice)
        r = self.client.post(admin_url("membership", "delete", membership.pk), {"post": "yes"}, follow=True)
        self.assertEqual(r.redirect_chain[-1][0], admin_url("membership", "change", membership.pk))
        self.assertIn("Not deleted: Cannot remove the last super admin", messages_of(r))
        self.assertFalse(any("successfully" in message for message in messages_of(r)))
        self.assertTrue(Membership.objects.filter(pk=membership.pk).exists())
        self.assertFalse(AuditEvent.objects.filter(record_id=str(self.alice.pk), operation="DELETE").exists())

    def test_deleting_a_member_goes_through_the_service(self) -> None:
        membership = self.membership(self.rita)
        r = self.client.post(admin_url("membership", "delete", membership.pk), {"post": "yes"})
        self.assertRedirects(r, admin_url("membership", "changelist"))
        self.assertFalse(Membership.objects.filter(pk=membership.pk).exists())
        self.assertTrue(self.staff_events(table_name="org_users", operation="DELETE", record_id=str(self.rita.pk)))

    def test_bulk_delete_removes_the_others_but_keeps_the_last_super_admin(self) -> None:
        selected = [self.membership(self.alice).pk, self.membership(self.rita).pk]
        r = self.client.post(
            admin_url("membership", "changelist"),
            {"action": "delete_selected", "_selected_action": selected, "post": "yes"},
            follow=True,
        )
        self.assertTrue(Membership.objects.filter(pk=selected[0]).exists())
        self.assertFalse(Membership.objects.filter(pk=selected[1]).exists())
        shown = messages_of(r)
        self.assertIn("Deleted 1 membership.", shown)
        self.assertTrue(any("was not deleted: Cannot remove the last super admin" in m for m in shown), shown)
        self.assertFalse(any("Successfully deleted" in m for m in shown), shown)

    def test_memberships_cannot_be_added_in_the_admin(self) -> None:
        self.assertEqual(self.client.get(admin_url("membership", "add")).status_code, 403)


class OrganizationAdminTestCase(AdminTestCase):
    def changelist_results(self, **params: str) -> list[Organization]:
        r = self.client.get(admin_url("organization", "changelist"), params)
        self.assertEqual(r.status_code, 200)
        return list(r.context["cl"].result_list)

    def test_search_finds_an_organization_by_id(self) -> None:
        self.assertEqual(self.changelist_results(q=self.other_org.id), [self.other_org])

    def test_search_finds_an_organization_by_management_email(self) -> None:
        self.assertEqual(self.changelist_results(q="oscar@example.org"), [self.other_org])

    def test_the_list_shows_each_member_count(self) -> None:
        counts = {org.pk: org.member_count for org in self.changelist_results()}
        self.assertEqual(counts, {self.org.pk: 4, self.other_org.pk: 1})

    def test_adding_an_organization_makes_the_staff_user_its_super_admin(self) -> None:
        r = self.client.post(
            admin_url("organization", "add"), {"name": "Staff Made", "management_email": "ops@example.org"}
        )
        org = Organization.objects.get(name="Staff Made")
        self.assertRedirects(r, admin_url("organization", "changelist"))
        self.assertEqual(org.created_by, self.staff)
        self.assertEqual(self.membership(self.staff, org).role, Role.SUPER_ADMIN)
        self.assertTrue(self.staff_events(table_name="orgs", operation="INSERT", record_id=org.id).exists())

    def test_editing_an_organization_writes_an_audit_event(self) -> None:
        page = self.client.get(admin_url("organization", "change", self.org.pk))
        data = form_data(page) | {"name": "Renamed", "require_apikey_expiration": "on"}
        r = self.client.post(admin_url("organization", "change", self.org.pk), data)
        self.assertEqual(r.status_code, 302, r.context and r.context["adminform"].form.errors)
        self.org.refresh_from_db()
        self.assertEqual((self.org.name, self.org.require_apikey_expiration), ("Renamed", True))
        event = self.staff_events(table_name="orgs", operation="UPDATE", record_id=self.org.id).get()
        self.assertEqual(event.changed_fields, ["name", "require_apikey_expiration"])

    def test_a_logo_url_must_be_https(self) -> None:
        page = self.client.get(admin_url("organization", "change", self.org.pk))
        data = form_data(page) | {"logo_url": "http://example.org/logo.png"}
        r = self.client.post(admin_url("organization", "change", self.org.pk), data)
        self.assertContains(r, "The logo address must be an https URL.")  # the settings page's field and message
        self.org.refresh_from_db()
        self.assertIsNone(self.org.logo_url)

    def test_the_website_follows_the_api_rule(self) -> None:
        page = self.client.get(admin_url("organization", "change", self.org.pk))
        for website in ("ftp://example.org/", "https://user:pass@example.org/"):
            r = self.client.post(
                admin_url("organization", "change", self.org.pk), form_data(page) | {"website": website}
            )
            self.assertEqual(r.status_code, 200, website)  # the form again, with the error
            self.org.refresh_from_db()
            self.assertIsNone(self.org.website)
        r = self.client.post(
            admin_url("organization", "change", self.org.pk), form_data(page) | {"website": "HTTPS://X.dev"}
        )
        self.assertEqual(r.status_code, 302)
        self.org.refresh_from_db()
        self.assertEqual(self.org.website, "https://x.dev/")

    def test_the_logo_preview_escapes_the_url(self) -> None:
        Organization.objects.filter(pk=self.org.pk).update(logo_url='https://cdn.example/a.png?x="onerror="alert(1)')
        r = self.client.get(admin_url("organization", "change", self.org.pk))
        self.assertContains(r, '<img src="https://cdn.example/a.png?x=&quot;onerror=&quot;alert(1)"')
        self.assertNotContains(r, '"onerror="')

    def test_the_member_inline_changes_a_role_through_the_service(self) -> None:
        page = self.client.get(admin_url("organization", "change", self.org.pk))
        data = form_data(page) | {f"{inline_prefix(page, self.wendy)}-role": Role.ADMIN}
        r = self.client.post(admin_url("organization", "change", self.org.pk), data)
        self.assertEqual(r.status_code, 302)
        self.assertEqual(self.membership(self.wendy).role, Role.ADMIN)
        self.assertTrue(self.staff_events(table_name="org_users", operation="UPDATE", record_id=str(self.wendy.pk)))

    def test_the_member_inline_refuses_to_demote_the_only_super_admin(self) -> None:
        page = self.client.get(admin_url("organization", "change", self.org.pk))
        data = form_data(page) | {"name": "Renamed", f"{inline_prefix(page, self.alice)}-role": Role.ADMIN}
        r = self.client.post(admin_url("organization", "change", self.org.pk), data)
        self.assertContains(r, "Not saved: Cannot remove the last super admin")
        self.assertEqual(self.membership(self.alice).role, Role.SUPER_ADMIN)
        self.org.refresh_from_db()
        self.assertEqual(self.org.name, "Alice Org")

    def test_a_member_refusal_at_save_time_rolls_back_the_organization_change_too(self) -> None:
        page = self.client.get(admin_url("organization", "change", self.org.pk))
        data = form_data(page) | {"name": "Renamed", f"{inline_prefix(page, self.alice)}-role": Role.READ}
        with mock.patch("organizations.admin.dry_run"):
            r = self.client.post(admin_url("organization", "change", self.org.pk), data, follow=True)
        self.assertEqual(messages_of(r), ["Not saved: Cannot remove the last super admin"])
        self.org.refresh_from_db()
        self.assertEqual(self.org.name, "Alice Org")
        self.assertFalse(AuditEvent.objects.filter(table_name="orgs", operation="UPDATE").exists())

    def test_the_member_inline_refuses_to_remove_the_only_super_admin(self) -> None:
        page = self.client.get(admin_url("organization", "change", self.org.pk))
        data = form_data(page) | {f"{inline_prefix(page, self.alice)}-DELETE": "on"}
        r = self.client.post(admin_url("organization", "change", self.org.pk), data)
        self.assertContains(r, "Not saved: Cannot remove the last super admin")
        self.assertTrue(Membership.objects.filter(user=self.alice, organization=self.org).exists())

    def test_the_member_inline_hands_over_super_admin_in_one_save(self) -> None:
        # Promotions run before demotions, so the organization is never without a super_admin.
        page = self.client.get(admin_url("organization", "change", self.org.pk))
        data = form_data(page) | {
            f"{inline_prefix(page, self.alice)}-role": Role.ADMIN,
            f"{inline_prefix(page, self.adam)}-role": Role.SUPER_ADMIN,
        }
        r = self.client.post(admin_url("organization", "change", self.org.pk), data)
        self.assertEqual(r.status_code, 302)
        self.assertEqual(self.membership(self.alice).role, Role.ADMIN)
        self.assertEqual(self.membership(self.adam).role, Role.SUPER_ADMIN)

    def test_the_member_inline_removes_a_member_through_the_service(self) -> None:
        page = self.client.get(admin_url("organization", "change", self.org.pk))
        data = form_data(page) | {f"{inline_prefix(page, self.rita)}-DELETE": "on"}
        r = self.client.post(admin_url("organization", "change", self.org.pk), data)
        self.assertEqual(r.status_code, 302)
        self.assertFalse(Membership.objects.filter(user=self.rita, organization=self.org).exists())
        self.assertTrue(self.staff_events(table_name="org_users", operation="DELETE", record_id=str(self.rita.pk)))

    def test_deleting_an_organization_goes_through_the_service(self) -> None:
        services.member_invite(actor=Principal(self.alice), org=self.org, email="newcomer@example.org", role="read")
        confirm = self.client.get(admin_url("organization", "delete", self.org.pk))
        self.assertContains(confirm, "Are you sure")
        r = self.client.post(admin_url("organization", "delete", self.org.pk), {"post": "yes"})
        self.assertRedirects(r, admin_url("organization", "changelist"))
        self.assertFalse(Organization.objects.filter(pk=self.org.pk).exists())
        self.assertTrue(self.staff_events(table_name="orgs", operation="DELETE", record_id=self.org.id).exists())
        # Four memberships and the pending invitation, each with its own event.
        self.assertEqual(self.staff_events(table_name="org_users", operation="DELETE", org_id=self.org.id).count(), 5)


class InvitationAdminTestCase(AdminTestCase):
    def setUp(self) -> None:
        super().setUp()
        services.member_invite(actor=Principal(self.alice), org=self.org, email="newcomer@example.org", role="write")
        self.invitation = Invitation.objects.get(email="newcomer@example.org")

    def test_the_cancel_action_goes_through_the_service(self) -> None:
        r = self.client.post(
            admin_url("invitation", "changelist"),
            {"action": "cancel_selected", "_selected_action": [self.invitation.pk]},
        )
        self.assertEqual(r.status_code, 302)
        self.invitation.refresh_from_db()
        self.assertEqual(self.invitation.status, Invitation.Status.CANCELLED)
        event = self.staff_events(table_name="org_users", operation="UPDATE", record_id=str(self.invitation.pk)).get()
        self.assertEqual(event.new_record["status"], "cancelled")

    def test_the_page_never_shows_the_token_hash(self) -> None:
        r = self.client.get(admin_url("invitation", "change", self.invitation.pk))
        self.assertContains(r, "newcomer@example.org")
        self.assertNotContains(r, self.invitation.token_hash)
        self.assertNotContains(r, "token_hash")
        self.assertNotContains(r, "field-token")

    def test_invitations_are_not_edited_or_deleted_in_the_admin(self) -> None:
        r = self.client.get(admin_url("invitation", "change", self.invitation.pk))
        self.assertNotContains(r, 'name="_save"')
        self.assertEqual(self.client.post(admin_url("invitation", "delete", self.invitation.pk)).status_code, 403)


class ApiKeyAdminTestCase(AdminTestCase):
    def test_revoking_a_key_makes_the_api_refuse_it(self) -> None:
        key = self.key_object(self.key["all"])
        self.assertEqual(self.get("/organization/", key=self.key["all"]).status_code, 200)
        r = self.client.post(
            admin_url("apikey", "changelist"), {"action": "revoke_selected", "_selected_action": [key.pk]}
        )
        self.assertEqual(r.status_code, 302)
        key.refresh_from_db()
        self.assertIsNotNone(key.revoked_at)
        event = self.staff_events(table_name="apikeys", operation="UPDATE", record_id=str(key.pk)).get()
        self.assertTrue(event.new_record["revoked"])
        self.assertError(self.get("/organization/", key=self.key["all"]), 401, "invalid_apikey")

    def test_the_change_page_shows_no_digest(self) -> None:
        key = self.key_object(self.key["all"])
        r = self.client.get(admin_url("apikey", "change", key.pk))
        self.assertContains(r, key.key_preview)
        self.assertNotContains(r, key.digest)
        self.assertNotIn("digest", r.content.decode().lower())
        # The secret part may itself contain "_": it is everything after "capgo_<lookup>_".
        self.assertNotIn(self.key["all"].split("_", 2)[2], r.content.decode())

    def test_keys_cannot_be_added_in_the_admin(self) -> None:
        self.assertEqual(self.client.get(admin_url("apikey", "add")).status_code, 403)

    def test_a_posted_digest_is_ignored(self) -> None:
        key = self.key_object(self.key["all"])
        data = {"name": "renamed", "mode": key.mode, "digest": "0" * 64, "lookup": "aaaaaaaa"}
        self.assertEqual(self.client.post(admin_url("apikey", "change", key.pk), data).status_code, 302)
        fresh = ApiKey.objects.get(pk=key.pk)
        self.assertEqual((fresh.name, fresh.digest, fresh.lookup), ("renamed", key.digest, key.lookup))
        self.assertTrue(self.staff_events(table_name="apikeys", operation="UPDATE", record_id=str(key.pk)).exists())

    def test_an_expiry_in_the_past_is_refused_by_the_service(self) -> None:
        key = self.key_object(self.key["all"])
        past = timezone.localtime() - timedelta(days=1)
        data = {
            "name": key.name, "mode": key.mode,
            "expires_at_0": past.strftime("%Y-%m-%d"), "expires_at_1": past.strftime("%H:%M:%S"),
        }  # fmt: skip
        r = self.client.post(admin_url("apikey", "change", key.pk), data)
        self.assertContains(r, "Not saved: Expiration date must be in the future")
        self.assertIsNone(ApiKey.objects.get(pk=key.pk).expires_at)

    def test_deleting_a_key_goes_through_the_service(self) -> None:
        key = self.key_object(self.key["read"])
        r = self.client.post(admin_url("apikey", "delete", key.pk), {"post": "yes"})
        self.assertRedirects(r, admin_url("apikey", "changelist"))
        self.assertFalse(ApiKey.objects.filter(pk=key.pk).exists())
        self.assertTrue(self.staff_events(table_name="apikeys", operation="DELETE", record_id=str(key.pk)).exists())
        self.assertError(self.get("/organization/", key=self.key["read"]), 401, "invalid_apikey")


class AuditEventAdminTestCase(AdminTestCase):
    def test_events_cannot_be_added_changed_or_deleted(self) -> None:
        event = AuditEvent.objects.first()
        page = self.client.get(admin_url("auditevent", "change", event.pk))
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, 'name="_save"')
        self.assertEqual(self.client.post(admin_url("auditevent", "change", event.pk), {}).status_code, 403)
        self.assertEqual(self.client.get(admin_url("auditevent", "delete", event.pk)).status_code, 403)
        self.assertEqual(
            self.client.post(admin_url("auditevent", "delete", event.pk), {"post": "yes"}).status_code, 403
        )
        self.assertEqual(self.client.get(admin_url("auditevent", "add")).status_code, 403)
        self.assertTrue(AuditEvent.objects.filter(pk=event.pk).exists())

    def test_the_detail_shows_the_records_as_json(self) -> None:
        event = AuditEvent.objects.get(table_name="orgs", operation="INSERT", record_id=self.org.id)
        r = self.client.get(admin_url("auditevent", "change", event.pk))
        self.assertContains(r, "<pre>{\n  &quot;created_by&quot;")
        self.assertContains(r, "&quot;name&quot;: &quot;Alice Org&quot;")

    def test_a_deleted_organizations_events_stay_filterable(self) -> None:
        org_id = self.org.id
        services.organization_delete(actor=Principal(self.alice), org=self.org)
        r = self.client.get(admin_url("auditevent", "changelist"), {"org_id": org_id})
        self.assertEqual(r.status_code, 200)
        listed = list(r.context["cl"].result_list)
        self.assertEqual(len(listed), AuditEvent.objects.filter(org_id=org_id).count())
        self.assertTrue(any(e.table_name == "orgs" and e.operation == "DELETE" for e in listed))
        self.assertEqual({e.org_id for e in listed}, {org_id})
        self.assertContains(r, f"(deleted) {org_id}")
        self.assertContains(r, f"Oscar Org ({self.other_org.id})")

    def test_search_by_record_id_and_actor_email(self) -> None:
        r = self.client.get(admin_url("auditevent", "changelist"), {"q": str(self.alice.pk)})
        self.assertTrue(r.context["cl"].result_list)
        self.assertEqual({e.record_id for e in r.context["cl"].result_list}, {str(self.alice.pk)})
        r = self.client.get(admin_url("auditevent", "changelist"), {"q": "oscar@"})
        self.assertTrue(r.context["cl"].result_list)
        self.assertEqual({e.actor_user_email for e in r.context["cl"].result_list}, {"oscar@example.org"})


class UserAdminTestCase(AdminTestCase):
    def test_adding_a_user_takes_an_email_and_a_password_twice(self) -> None:
        r = self.client.post(
            admin_url("user", "add"),
            {
                "email": "New.Person@Example.org",
                "password1": "a-long-passphrase-42",
                "password2": "a-long-passphrase-42",
            },
        )
        self.assertEqual(r.status_code, 302)
        user = User.objects.get(email="new.person@example.org")
        self.assertTrue(user.check_password("a-long-passphrase-42"))

    def test_an_email_taken_in_another_case_is_a_form_error(self) -> None:
        r = self.client.post(
            admin_url("user", "add"),
            {"email": "ALICE@example.org", "password1": "a-long-passphrase-42", "password2": "a-long-passphrase-42"},
        )
        self.assertContains(r, "User with this Email address already exists.")

    def test_the_change_page_links_to_the_password_form_not_the_hash(self) -> None:
        r = self.client.get(admin_url("user", "change", self.wendy.pk))
        self.assertContains(r, "../password/")
        self.assertNotContains(r, self.wendy.password)
        password_page = admin_url("user", "change", self.wendy.pk).replace("/change/", "/password/")
        self.assertContains(self.client.get(password_page), "Change password: wendy@example.org")

    def test_the_only_super_admin_of_an_organization_cannot_be_deleted(self) -> None:
        r = self.client.post(admin_url("user", "delete", self.alice.pk), {"post": "yes"}, follow=True)
        self.assertIn("Not deleted: Cannot remove the last super admin", messages_of(r))
        self.assertTrue(User.objects.filter(pk=self.alice.pk).exists())
        self.assertEqual(Membership.objects.filter(user=self.alice).count(), 1)

    def test_deleting_a_user_removes_memberships_and_keys_through_the_services(self) -> None:
        key = self.key_object(self.wendy_key)
        r = self.client.post(admin_url("user", "delete", self.wendy.pk), {"post": "yes"})
        self.assertEqual(r.status_code, 302)
        self.assertFalse(User.objects.filter(pk=self.wendy.pk).exists())
        self.assertTrue(self.staff_events(table_name="org_users", operation="DELETE", record_id=str(self.wendy.pk)))
        self.assertTrue(self.staff_events(table_name="apikeys", operation="DELETE", record_id=str(key.pk)).exists())


class ChangelistQueryCountTestCase(TestCase):
    """Every changelist runs the same number of queries for 1 row as for 200."""

    @classmethod
    def setUpTestData(cls) -> None:
        cls.staff = User.objects.create_superuser("staff@example.org", "password-123")

    def setUp(self) -> None:
        self.client.force_login(self.staff)

    def assert_fixed_queries(self, model: str, add_rows: Callable[[range], None]) -> None:
        url = admin_url(model, "changelist")
        add_rows(range(0, 1))
        self.client.get(url)  # warm the per-process caches (content types, permissions)
        with CaptureQueriesContext(connection) as one_row:
            r = self.client.get(url)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.context["cl"].result_count, 1 if model != "user" else 2)
        add_rows(range(1, 200))
        with self.assertNumQueries(len(one_row)):
            r = self.client.get(url)
        self.assertEqual(r.status_code, 200)
        self.assertEqual(r.context["cl"].result_count, 200 if model != "user" else 201)

    def orgs(self, numbers: range) -> list[Organization]:
        return Organization.objects.bulk_create(
            Organization(name=f"Org {n}", management_email=f"org{n}@example.org") for n in numbers
        )

    def users(self, numbers: range) -> list[User]:
        return User.objects.bulk_create(User(email=f"user{n}@example.org", name=f"User {n}") for n in numbers)

    def test_organizations(self) -> None:
        def add_rows(numbers: range) -> None:
            orgs, users = self.orgs(numbers), self.users(numbers)
            Membership.objects.bulk_create(
                Membership(organization=o, user=u, role=Role.SUPER_ADMIN) for o, u in zip(orgs, users, strict=True)
            )

        self.assert_fixed_queries("organization", add_rows)

    def test_memberships(self) -> None:
        def add_rows(numbers: range) -> None:
            orgs, users = self.orgs(numbers), self.users(numbers)
            Membership.objects.bulk_create(
                Membership(organization=o, user=u, role=Role.READ) for o, u in zip(orgs, users, strict=True)
            )

        self.assert_fixed_queries("membership", add_rows)

    def test_invitations(self) -> None:
        def add_rows(numbers: range) -> None:
            orgs, users = self.orgs(numbers), self.users(numbers)
            expires = timezone.now() + timedelta(days=7)
            Invitation.objects.bulk_create(
                Invitation(
                    organization=o,
                    email=f"guest{n}@example.org",
                    role=Role.WRITE,
                    token_hash=f"{n:064x}",
                    invited_by=u,
                    expires_at=expires,
                )  # fmt: skip
                for n, o, u in zip(numbers, orgs, users, strict=True)
            )

        self.assert_fixed_queries("invitation", add_rows)

    def test_api_keys(self) -> None:
        def add_rows(numbers: range) -> None:
            ApiKey.objects.bulk_create(
                ApiKey(user=u, name=f"key {n}", lookup=f"k{n:07d}", digest=f"{n:064x}")
                for n, u in zip(numbers, self.users(numbers), strict=True)
            )

        self.assert_fixed_queries("apikey", add_rows)

    def test_audit_events(self) -> None:
        def add_rows(numbers: range) -> None:
            live = self.orgs(numbers[::2])  # half the events belong to organizations that still exist
            org_ids = [o.id for o in live] + [f"org_deleted{n}" for n in numbers[1::2]]
            AuditEvent.objects.bulk_create(
                AuditEvent(
                    org_id=org_id,
                    table_name="orgs",
                    record_id=org_id,
                    operation="UPDATE",
                    actor_type="user",
                    actor_user_email="someone@example.org",
                    old_record={"name": "a"},
                    new_record={"name": "b"},
                )  # fmt: skip
                for org_id in org_ids
            )

        self.assert_fixed_queries("auditevent", add_rows)

    def test_users(self) -> None:
        self.assert_fixed_queries("user", self.users)


class AdminLoginTestCase(TestCase):
    def test_a_non_staff_user_cannot_enter_the_admin(self) -> None:
        self.client.force_login(make_user("plain@example.org"))
        r = self.client.get(admin_url("organization", "changelist"))
        self.assertEqual(r.status_code, 302)
        self.assertIn(reverse("admin:login"), r["Location"])


class StaffPrivilegeTestCase(AdminTestCase):
    """Staff with change_user who are not superusers cannot raise rights or take over an account."""

    @classmethod
    def setUpTestData(cls) -> None:
        super().setUpTestData()
        cls.helpdesk = make_user("helpdesk@example.org")
        User.objects.filter(pk=cls.helpdesk.pk).update(is_staff=True)
        cls.helpdesk.user_permissions.set(
            Permission.objects.filter(codename__in=["view_user", "add_user", "change_user", "delete_user"])
        )
        cls.group = Group.objects.create(name="everything")
        cls.group.permissions.set(Permission.objects.all())

    def setUp(self) -> None:
        self.client.force_login(self.helpdesk)

    def post_change(self, user: User, **changes: Any) -> Any:
        data = form_data(self.client.get(admin_url("user", "change", user.pk)))
        data.pop("avatar", None)  # no file: the browser would send nothing
        data.update(changes)
        return self.client.post(admin_url("user", "change", user.pk), data)

    def test_they_cannot_raise_their_own_rights(self) -> None:
        every_permission = [str(p) for p in Permission.objects.values_list("pk", flat=True)]
        r = self.post_change(
            self.helpdesk,
            is_superuser="on",
            is_staff="on",
            groups=[str(self.group.pk)],
            user_permissions=every_permission,
        )
        self.assertEqual(r.status_code, 302)  # the other fields save; the privileged ones are read-only
        self.helpdesk.refresh_from_db()
        self.assertFalse(self.helpdesk.is_superuser)
        self.assertFalse(self.helpdesk.groups.exists())
        self.assertEqual(self.helpdesk.user_permissions.count(), 4)
        page = self.client.get(admin_url("user", "change", self.helpdesk.pk))
        self.assertNotIn("is_superuser", page.context["adminform"].form.fields)

    def test_they_cannot_hand_out_rights_or_move_an_address(self) -> None:
        self.post_change(self.wendy, is_staff="on", is_superuser="on", email="newhire@corp.example")
        self.wendy.refresh_from_db()
        self.assertEqual((self.wendy.is_staff, self.wendy.is_superuser), (False, False))
        self.assertEqual(self.wendy.email, "wendy@example.org")

    def test_they_cannot_change_or_reset_the_password_of_a_staff_account(self) -> None:
        page = self.client.get(admin_url("user", "change", self.staff.pk))
        self.assertFalse(page.context["has_change_permission"])  # they may look, not change
        r = self.client.post(admin_url("user", "change", self.staff.pk), {"email": "helpdesk-owns@example.org"})
        self.assertEqual(r.status_code, 403)
        password_page = admin_url("user", "change", self.staff.pk).replace("/change/", "/password/")
        r = self.client.post(password_page, {"password1": "taken-over-pass-1", "password2": "taken-over-pass-1"})
        self.assertEqual(r.status_code, 403)
        self.staff.refresh_from_db()
        self.assertTrue(self.staff.check_password("password-123"))

    def test_they_cannot_delete_a_staff_account_even_in_bulk(self) -> None:
        r = self.client.post(
            admin_url("user", "changelist"),
            {"action": "delete_selected", "_selected_action": [str(self.staff.pk)], "post": "yes"},
            follow=True,
        )
        self.assertIn(r.status_code, (200, 403))
        self.assertTrue(User.objects.filter(pk=self.staff.pk).exists())

    def test_they_cannot_vouch_for_an_address_or_read_a_second_factor(self) -> None:
        squatter = make_user("squatter@example.org", verified=False)
        EmailAddress.objects.create(user=squatter, email=squatter.email, primary=True, verified=False)
        self.helpdesk.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["account", "mfa"]))
        address = EmailAddress.objects.get(user=squatter)
        r = self.client.post(
            reverse("admin:account_emailaddress_changelist"),
            {"action": "make_verified", "_selected_action": [str(address.pk)]},
        )
        self.assertNotContains(r, 'value="make_verified"')  # not offered, and not run when posted
        self.assertFalse(is_verified(squatter))
        secret = "JBSWY3DPEHPK3PXP"
        authenticator = Authenticator.objects.create(
            user=self.wendy, type=Authenticator.Type.TOTP, data={"secret": secret}
        )
        page = self.client.get(reverse("admin:accounts_secondfactor_change", args=[authenticator.pk]))
        self.assertEqual(page.status_code, 200)
        self.assertNotContains(page, secret)

    def test_a_superuser_may_and_the_address_they_set_counts_as_verified(self) -> None:
        self.client.force_login(self.staff)
        r = self.post_change(self.wendy, is_staff="on", email="wendy.new@example.org")
        self.assertEqual(r.status_code, 302)
        self.wendy.refresh_from_db()
        self.assertEqual((self.wendy.email, self.wendy.is_staff), ("wendy.new@example.org", True))
        self.assertTrue(is_verified(self.wendy))

    def test_a_user_added_by_staff_counts_as_verified(self) -> None:
        self.client.post(
            admin_url("user", "add"),
            {"email": "added@example.org", "password1": "a-long-passphrase-42", "password2": "a-long-passphrase-42"},
        )
        self.assertTrue(is_verified(User.objects.get(email="added@example.org")))
