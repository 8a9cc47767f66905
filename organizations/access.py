"""The tenant wall and the organization's policies: which organizations a principal sees, the one
way to fetch one, and who complies with its security policies.

Every API view and page that takes an organization id goes through `org_for`, so a caller
outside the organization (or outside its key's limits) gets the same 404 as for an id that
does not exist, and a member who does not comply with its policies gets the same 403 through
every surface and every key.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from allauth.mfa.models import Authenticator
from django.db import connection
from django.db.models import F, QuerySet

from accounts.mfa import SECOND_FACTOR_TYPES
from organizations.exceptions import OrgNotFound, OrgRequires2FA, OrgRequiresExpiringKey, OrgRequiresPasswordPolicy
from organizations.models import ApiKeyOrgLimit, Membership, Organization
from organizations.roles import Action, Principal, authorize, check_key_mode, check_key_reaches
from organizations.rows import Columns
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


# What a list of organizations shows of each (organizations.api.serializers.organization_row_json).
ORGANIZATION_VALUES = (
    "id", "created_by_id", "created_at", "updated_at", "logo_file", "logo_url", "name", "management_email",
    "customer_id", "website", "require_apikey_expiration", "max_apikey_expiration_days", "enforcing_2fa",
    "password_policy_config",
)  # fmt: skip
_LISTED = Columns(Organization, "o", ORGANIZATION_VALUES)


@cache
def _visible_sql(limited: bool, count: bool) -> str:
    """`visible_organizations` as one hand-written statement: a page of `ORGANIZATION_VALUES` with the
    number of all of them (COUNT(*) OVER () is computed before LIMIT applies), or only that number.
    The parameters: the user, the key if it is limited, then (for a page) LIMIT and OFFSET. Compiling
    the queryset cost more CPU than running it; only identifiers go into the text."""
    qn = connection.ops.quote_name
    org, membership, limit = Organization._meta, Membership._meta, ApiKeyOrgLimit._meta
    where = f"m.{qn('user_id')} = %s"
    if limited:
        where += (
            f" AND o.{qn(org.pk.column)} IN (SELECT l.{qn('organization_id')} FROM {qn(limit.db_table)} l "  # noqa: S608
            f"WHERE l.{qn('api_key_id')} = %s)"
        )
    joined = (
        f"FROM {qn(org.db_table)} o INNER JOIN {qn(membership.db_table)} m "
        f"ON m.{qn('organization_id')} = o.{qn(org.pk.column)} WHERE {where}"
    )
    if count:
        return f"SELECT COUNT(*) {joined}"  # noqa: S608
    return (
        f"SELECT {_LISTED.select()}, COUNT(*) OVER () {joined} "  # noqa: S608
        f"ORDER BY o.{qn('created_at')}, o.{qn(org.pk.column)} LIMIT %s OFFSET %s"
    )


def visible_organizations_page(principal: Principal, page: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """One page of `visible_organizations` (its `ORGANIZATION_VALUES`, as `.values()` gives them) and
    the number of all of them, in one statement; only a page past the end costs a second one."""
    key = principal.api_key
    limited = key is not None and key.is_limited
    user_id = Membership._meta.get_field("user").get_db_prep_value(principal.user.pk, connection)
    params = [user_id, key.pk] if limited else [user_id]
    with connection.cursor() as cursor:
        cursor.execute(_visible_sql(limited, count=False), [*params, limit, page * limit])
        found = cursor.fetchall()
        if not found:
            if not page:
                return [], 0
            cursor.execute(_visible_sql(limited, count=True), params)
            return [], cursor.fetchone()[0]
    return _LISTED.dicts(found), found[0][len(_LISTED)]


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


# The lookup ---------------------------------------------------------------------------------

ORG = Columns(Organization, "o")
# After the organization's columns, what the rules need to know about the caller there.
_CALLER_COLUMNS = 3


@cache
def org_select() -> str:
    """The SELECT items for the organization `o`, the caller's membership `m` in it and what the
    policies need to know about the caller; the statement joins them as `org_joins` says.

    Written once rather than built by the ORM on every call: this runs on every request that
    names an organization, and compiling the equivalent queryset cost three times the CPU of
    running it (bench/README.md). The second-factor subquery runs only for organizations that
    enforce 2FA. Only identifiers and constants from the models go into the text.
    """
    qn = connection.ops.quote_name
    factor = Authenticator._meta
    factor_types = ", ".join(f"'{kind}'" for kind in SECOND_FACTOR_TYPES)
    return (
        f"{ORG.select()}, m.{qn('role')}, m.{qn('password_policy_fingerprint')}, "  # noqa: S608
        f"CASE WHEN o.{qn('enforcing_2fa')} THEN EXISTS (SELECT 1 FROM {qn(factor.db_table)} a "
        f"WHERE a.{qn('user_id')} = m.{qn('user_id')} AND a.{qn('type')} IN ({factor_types})) ELSE TRUE END"
    )


def org_select_width() -> int:
    return len(ORG) + _CALLER_COLUMNS


@cache
def org_joins(user_column: str) -> str:
    """LEFT JOINs of the caller's membership (by `user_column`) in the organization named by the
    statement's parameter, and of that organization: NULLs when the caller is not a member."""
    qn = connection.ops.quote_name
    org, membership = Organization._meta, Membership._meta
    return (
        f"LEFT JOIN {qn(membership.db_table)} m ON m.{qn('organization_id')} = %s "
        f"AND m.{qn('user_id')} = {user_column} "
        f"LEFT JOIN {qn(org.db_table)} o ON o.{qn(org.pk.column)} = m.{qn('organization_id')}"
    )


def org_from_row(values: Sequence[Any]) -> Organization | None:
    """The organization of an `org_select` slice, with the caller's role (`my_role`) and compliance
    facts on it; None when the caller is not a member (or it does not exist)."""
    if values[0] is None:
        return None
    org = ORG.load(values[: len(ORG)])
    role, fingerprint, second_factor = values[len(ORG) :]
    org.my_role = role
    org.my_password_fingerprint = fingerprint
    org.my_second_factor = bool(second_factor)
    return org


@cache
def _org_sql() -> str:
    """The organization and the caller's place in it, for a caller known by id (a browser session)."""
    caller = connection.ops.quote_name("caller_id")
    return f"SELECT {org_select()} FROM (SELECT %s AS {caller}) caller {org_joins(f'caller.{caller}')}"  # noqa: S608


def _fetch_org(principal: Principal, org_id: str) -> Organization | None:
    key = principal.api_key
    prefetched = getattr(key, "prefetched_org", None)
    if prefetched is not None and prefetched[0] == org_id:
        # The key's own lookup read it in the same statement (authentication.key_for); used once.
        key.prefetched_org = None
        return prefetched[1]
    user_id = Membership._meta.get_field("user").get_db_prep_value(principal.user.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(_org_sql(), [user_id, org_id])
        row = cursor.fetchone()
    return org_from_row(row)


def org_for(principal: Principal, org_id: str | None, action: Action) -> tuple[Organization, str]:
    """The organization `org_id` and the caller's role in it, if the caller may do `action` there.

    The answers come in this order: key mode (403), not found (404), expiring keys (401), the
    organization's security policies (403), the role (403).
    """
    check_key_mode(principal, action)
    org = _fetch_org(principal, org_id) if org_id else None
    if org is None:
        raise OrgNotFound()
    check_key_reaches(principal, org.id)
    check_expiry_policy(principal, org)
    org.my_compliance = compliance(
        org, has_second_factor=org.my_second_factor, password_fingerprint=org.my_password_fingerprint
    )
    check_compliance(org, org.my_compliance, action)
    authorize(principal, action, org.my_role, org_id=org.id)
    org.my_role_user_id = principal.user.pk  # whose role `my_role` is (services._role_of)
    return org, org.my_role
