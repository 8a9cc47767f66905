"""Snapshots of records for the audit log, and the one function that writes an event.

Snapshots hold what an administrator needs to see, never a secret, a hash or password data.
Services call `record` inside their transaction, so the event and the change commit together.
Each event is then handed to the subscribers (the webhooks app writes its outbox there), still
inside that transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db.models import Q

from organizations.models import ApiKey, AuditEvent, Invitation, Membership, Organization
from organizations.roles import Principal
from organizations.rows import insert

Snapshot = dict[str, Any]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def organization_snapshot(org: Organization) -> Snapshot:
    return {
        "id": org.id,
        "name": org.name,
        "management_email": org.management_email,
        "website": org.website,
        "logo": org.logo_file.name or org.logo_url or None,
        "customer_id": org.customer_id,
        "require_apikey_expiration": org.require_apikey_expiration,
        "max_apikey_expiration_days": org.max_apikey_expiration_days,
        "enforcing_2fa": org.enforcing_2fa,
        "password_policy_config": org.password_policy_config,
        "created_by": str(org.created_by_id) if org.created_by_id else None,
    }


def membership_snapshot(membership: Membership) -> Snapshot:
    return {
        "org_id": membership.organization_id,
        "user_id": str(membership.user_id),
        "email": membership.user.email,
        "role": membership.role,
    }


def invitation_snapshot(invitation: Invitation) -> Snapshot:
    return {
        "org_id": invitation.organization_id,
        "invitation_id": str(invitation.id),
        "email": invitation.email,
        "role": invitation.display_role,
        "status": invitation.status,
        "expires_at": _iso(invitation.expires_at),
    }


def api_key_snapshot(key: ApiKey, limited_to_orgs: Iterable[str]) -> Snapshot:
    return {
        "id": key.id,
        "name": key.name,
        "mode": key.mode,
        "key_preview": key.key_preview,
        "limited_to_orgs": sorted(limited_to_orgs),
        "expires_at": _iso(key.expires_at),
        "user_id": str(key.user_id),
    }


def events_page(
    org_id: str,
    *,
    table_name: str | None = None,
    operation: str | None = None,
    where: Q | None = None,
    page: int = 0,
    limit: int = 50,
) -> tuple[list[AuditEvent], int]:
    """One page of an organization's events, newest first, and the exact total: two queries.

    `where` narrows further (the audit page's filters by person and kind of change).
    """
    qs = AuditEvent.objects.filter(org_id=org_id)
    if where is not None:
        qs = qs.filter(where)
    if table_name:
        qs = qs.filter(table_name=table_name)
    if operation:
        qs = qs.filter(operation=operation)
    total = qs.count()
    start = page * limit
    return (list(qs.order_by("-created_at", "-id")[start : start + limit]) if start < total else []), total


def changed(old: Snapshot, new: Snapshot) -> list[str]:
    return sorted(field for field in new if old.get(field) != new.get(field))


def _fields(
    actor: Principal | None,
    *,
    org_id: str | None,
    table: str,
    record_id: object,
    operation: str,
    old: Snapshot | None = None,
    new: Snapshot | None = None,
) -> dict[str, Any]:
    fields: dict[str, Any] = {"actor_type": AuditEvent.ActorType.SYSTEM}
    if actor is not None:
        fields = {
            "actor_type": AuditEvent.ActorType.APIKEY if actor.api_key else AuditEvent.ActorType.USER,
            "actor_user_id": str(actor.user.pk),
            "actor_user_email": actor.user.email,
        }
        if actor.api_key is not None:
            fields["actor_apikey_id"] = actor.api_key.pk
            fields["actor_apikey_name"] = actor.api_key.name
    return {
        "org_id": org_id,
        "table_name": table,
        "record_id": str(record_id),
        "operation": operation,
        "old_record": old,
        "new_record": new,
        "changed_fields": changed(old, new) if old is not None and new is not None else None,
        **fields,
    }


def event(actor: Principal | None, **kwargs: Any) -> AuditEvent:
    """An unsaved audit event, for writing many in one statement with bulk_create."""
    return AuditEvent(**_fields(actor, **kwargs))


def record(actor: Principal | None, **kwargs: Any) -> AuditEvent:
    """Write one audit event. Call inside the transaction of the change it describes."""
    created = insert(AuditEvent(**_fields(actor, **kwargs)))  # one INSERT written once (rows.insert)
    _publish([created])
    return created


def record_many(events: list[AuditEvent]) -> list[AuditEvent]:
    """Write events made by `event` in one statement (organization_delete), like `record`."""
    created = AuditEvent.objects.bulk_create(events)
    _publish(created)
    return created


# Subscribers (issue 13) ------------------------------------------------------------------

Subscriber = Callable[[Sequence[AuditEvent]], None]
_subscribers: list[Subscriber] = []


def subscribe(subscriber: Subscriber) -> None:
    """Call `subscriber(events)` in the transaction of every write of events (apps subscribe in ready())."""
    if subscriber not in _subscribers:
        _subscribers.append(subscriber)


def _publish(events: Sequence[AuditEvent]) -> None:
    for subscriber in _subscribers:
        subscriber(events)
