"""The tenant wall and the organization's policies: which organizations a principal sees, the one
way to fetch one, and who complies with its security policies.

Every API view and page that takes an organization id goes through `org_for`, so a caller
outside the organization (or outside its key's limits) gets the same 404 as for an id that
does not exist, and a member who does not comply with its policies gets the same 403 through
every surface and every key.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from allauth.mfa.models import Authenticator
from django.db import connection
from django.db.models import F, QuerySet

from accounts.mfa import SECOND_FACTOR_TYPES
from organizations.exceptions import OrgNotFound, OrgRequires2FA, OrgRequiresExpiringKey, OrgRequiresPasswordPolicy
from organizations.models import Membership, Organization
from organizations.roles import Action, Principal, authorize, check_key_mode, check_key_reaches
from organizations.security import password_policy


def visible_organizations(principal: Principal) -> QuerySet[Organization]:
    """Organizations where the principal is an accepted member, within its key's limits.

    Each row carries the caller's role as `my_role`.
    """
    qs = Organization.objects.filter(memberships__user=principal.user).annotate(my_role=F("memberships__role"))
    key = principal.api_key
    if key is not None and key.is_limited:
        qs = qs.filter(id__in=key.limited_org_ids)
    return qs.order_by("created_at", "id")


def check_expiry_policy(principal: Principal, org: Organization) -> None:
    """An organization that requires expiring keys refuses keys without an expiry on calls about it."""
    key = principal.api_key
    if key is not None and org.require_apikey_expiration and key.expires_at is None:
        raise OrgRequiresExpiringKey()


# Security policies ----------------------------------------------------------------------------

# What stays open to a member who does not comply: leaving, and (for admins) changing the
# policies themselves. The organization list is open too: it does not go through `org_for`.
OPEN_TO_NON_COMPLIANT = frozenset({Action.LEAVE, Action.UPDATE_SECURITY_POLICY, Action.COMPLY})


@dataclass(frozen=True)
class Compliance:
    """Whether a member meets the organization's policies; `password` is None while no policy is on."""

    two_factor: bool
    password: bool | None

    @property
    def complies(self) -> bool:
        return self.two_factor and self.password is not False


def compliance(org: Organization, *, has_second_factor: bool, password_fingerprint: str) -> Compliance:
    """The one rule: 2FA while the organization enforces it; a password checked against the *current*
    policy (its fingerprint matches) while one is on."""
    policy = password_policy(org.password_policy_config)
    return Compliance(
        two_factor=has_second_factor or not org.enforcing_2fa,
        password=None if policy is None else password_fingerprint == policy.fingerprint,
    )


def check_compliance(org: Organization, member: Compliance, action: Action) -> None:
    if action in OPEN_TO_NON_COMPLIANT:
        return
    if not member.two_factor:
        raise OrgRequires2FA(org=org)
    if member.password is False:
        raise OrgRequiresPasswordPolicy(org=org)


# The lookup ----------------------------------------------------------------------------------


@cache
def _org_with_role_sql() -> str:
    """The organization, the caller's role and what the policies need to know about the caller, in
    one indexed statement.

    Written once rather than built by the ORM on every call: this runs on every request that
    names an organization, and compiling the equivalent queryset cost three times the CPU of
    running it (bench/README.md). A raw queryset still converts every column the ORM way. The
    second-factor subquery runs only for organizations that enforce 2FA.
    """
    qn = connection.ops.quote_name
    org, membership, factor = Organization._meta, Membership._meta, Authenticator._meta
    columns = ", ".join(f"o.{qn(field.column)}" for field in org.concrete_fields)
    factor_types = ", ".join(f"'{kind}'" for kind in SECOND_FACTOR_TYPES)
    # Only identifiers and constants from the models go into the text; the values are parameters.
    return (
        f"SELECT {columns}, m.{qn('role')} AS my_role, "  # noqa: S608
        f"m.{qn('password_policy_fingerprint')} AS my_password_fingerprint, "
        f"CASE WHEN o.{qn('enforcing_2fa')} THEN EXISTS (SELECT 1 FROM {qn(factor.db_table)} a "
        f"WHERE a.{qn('user_id')} = m.{qn('user_id')} AND a.{qn('type')} IN ({factor_types})) "
        f"ELSE TRUE END AS my_second_factor "
        f"FROM {qn(membership.db_table)} m "
        f"INNER JOIN {qn(org.db_table)} o ON o.{qn(org.pk.column)} = m.{qn('organization_id')} "
        f"WHERE m.{qn('organization_id')} = %s AND m.{qn('user_id')} = %s"
    )


def org_for(principal: Principal, org_id: str | None, action: Action) -> tuple[Organization, str]:
    """The organization `org_id` and the caller's role in it, if the caller may do `action` there.

    The answers come in this order: key mode (403), not found (404), expiring keys (401), the
    organization's security policies (403), the role (403).
    """
    check_key_mode(principal, action)
    org = None
    if org_id:
        user_id = Membership._meta.get_field("user").get_db_prep_value(principal.user.pk, connection)
        org = next(iter(Organization.objects.raw(_org_with_role_sql(), [org_id, user_id])), None)
    if org is None:
        raise OrgNotFound()
    check_key_reaches(principal, org.id)
    check_expiry_policy(principal, org)
    org.my_compliance = compliance(
        org, has_second_factor=bool(org.my_second_factor), password_fingerprint=org.my_password_fingerprint
    )
    check_compliance(org, org.my_compliance, action)
    authorize(principal, action, org.my_role, org_id=org.id)
    return org, org.my_role
