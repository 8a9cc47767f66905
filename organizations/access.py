"""The tenant wall: which organizations a principal sees, and the one way to fetch one.

Every API view and page that takes an organization id goes through `org_for`, so a caller
outside the organization (or outside its key's limits) gets the same 404 as for an id that
does not exist.
"""

from __future__ import annotations

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


def org_for(principal: Principal, org_id: str | None, action: Action) -> tuple[Organization, str]:
    """The organization `org_id` and the caller's role in it, if the caller may do `action` there."""
    check_key_mode(principal, action)
    membership = (
        Membership.objects.select_related("organization").filter(organization_id=org_id, user=principal.user).first()
        if org_id
        else None
    )
    if membership is None:
        raise OrgNotFound()
    check_key_reaches(principal, membership.organization_id)
    check_expiry_policy(principal, membership.organization)
    authorize(principal, action, membership.role, org_id=membership.organization_id)
    return membership.organization, membership.role
