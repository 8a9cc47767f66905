"""The tenant wall: which organizations a principal sees, and the one way to fetch one.

Every API view and page that takes an organization id goes through `org_for`, so a caller
outside the organization (or outside its key's limits) gets the same 404 as for an id that
does not exist.
"""

from __future__ import annotations

from functools import cache

from django.db import connection
from django.db.models import F, QuerySet

from organizations.exceptions import OrgNotFound, OrgRequiresExpiringKey
from organizations.models import Membership, Organization
from organizations.roles import Action, Principal, authorize, check_key_mode, check_key_reaches


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


@cache
def _org_with_role_sql() -> str:
    """The organization and the caller's role in it, in one indexed join.

    Written once rather than built by the ORM on every call: this runs on every request that
    names an organization, and compiling the equivalent queryset cost three times the CPU of
    running it (bench/README.md). A raw queryset still converts every column the ORM way.
    """
    qn = connection.ops.quote_name
    org, membership = Organization._meta, Membership._meta
    columns = ", ".join(f"o.{qn(field.column)}" for field in org.concrete_fields)
    # Only identifiers from the models go into the text; the values are parameters.
    return (
        f"SELECT {columns}, m.{qn('role')} AS my_role "  # noqa: S608
        f"FROM {qn(membership.db_table)} m "
        f"INNER JOIN {qn(org.db_table)} o ON o.{qn(org.pk.column)} = m.{qn('organization_id')} "
        f"WHERE m.{qn('organization_id')} = %s AND m.{qn('user_id')} = %s"
    )


def org_for(principal: Principal, org_id: str | None, action: Action) -> tuple[Organization, str]:
    """The organization `org_id` and the caller's role in it, if the caller may do `action` there."""
    check_key_mode(principal, action)
    org = None
    if org_id:
        user_id = Membership._meta.get_field("user").get_db_prep_value(principal.user.pk, connection)
        org = next(iter(Organization.objects.raw(_org_with_role_sql(), [org_id, user_id])), None)
    if org is None:
        raise OrgNotFound()
    check_key_reaches(principal, org.id)
    check_expiry_policy(principal, org)
    authorize(principal, action, org.my_role, org_id=org.id)
    return org, org.my_role
