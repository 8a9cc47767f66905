"""The audit log as people read it: one sentence per event, in the viewer's language.

The events stay what the API returns (tables, operations, snapshots); this module only reads
them. `describe` is the one place that turns an event into words, for the audit page and the
admin. Every value that comes from a person (names, addresses) is escaped and isolated
(organizations.text.sentence), so a name cannot reorder or fake the sentence around it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.html import format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from organizations.models import AuditEvent
from organizations.roles import KeyMode, Role, parse_role
from organizations.security import password_policy
from organizations.text import sentence

Table = AuditEvent.Table
Op = AuditEvent.Operation

# The audit page's "kind of change" filter: what people look for, as conditions on the events.
KINDS: dict[str, tuple[Any, Q]] = {
    "settings": (gettext_lazy("Organization settings"), Q(table_name=Table.ORGS)),
    # Membership snapshots carry the member's user_id, invitation snapshots an invitation_id.
    "members": (
        gettext_lazy("Members"),
        Q(table_name=Table.ORG_USERS) & (Q(new_record__has_key="user_id") | Q(old_record__has_key="user_id")),
    ),
    "invitations": (
        gettext_lazy("Invitations"),
        Q(table_name=Table.ORG_USERS)
        & (Q(new_record__has_key="invitation_id") | Q(old_record__has_key="invitation_id")),
    ),
    "keys": (gettext_lazy("API keys"), Q(table_name=Table.APIKEYS)),
    "webhooks": (gettext_lazy("Webhooks"), Q(table_name=Table.WEBHOOKS)),
}


def people_ids(events: Iterable[AuditEvent]) -> set[str]:
    """The people a page of events names (actors and members), to look their names up at once."""
    ids = set()
    for event in events:
        if event.actor_user_id:
            ids.add(event.actor_user_id)
        record = event.new_record or event.old_record or {}
        if event.table_name == Table.ORG_USERS and "user_id" in record:
            ids.add(record["user_id"])
    return ids


def actor_name(event: AuditEvent, names: Mapping[str, str]) -> str:
    """Who did it: the person's current name, else the address they had then; or the system."""
    if event.actor_type == AuditEvent.ActorType.SYSTEM:
        return _("The system")
    return names.get(event.actor_user_id or "") or event.actor_user_email or _("Someone")


def _role(value: str | None) -> str:
    role = parse_role(value or "")
    return Role(role).label if role else (value or "")


def _mode(value: str | None) -> str:
    return KeyMode(value).label if value in KeyMode.values else (value or "")


def _date(value: str | None) -> str:
    moment: datetime | None = parse_datetime(value) if value else None
    return date_format(moment, "DATE_FORMAT") if moment else ""


def key_policy(require: bool, days: int | None) -> str:
    """An organization's API-key policy in a few words (also the settings page's summary)."""
    if require and days:
        return _("expiry required, at most %(days)s days") % {"days": days}
    if require:
        return _("expiry required")
    if days:
        return _("at most %(days)s days for keys limited to it") % {"days": days}
    return _("no expiry required")


def describe(event: AuditEvent, names: Mapping[str, str]) -> SafeString:
    """The event as one sentence (or a few, when one change touched several things)."""
    actor = actor_name(event, names)
    old, new = event.old_record or {}, event.new_record or {}
    describe_table = {
        Table.ORGS: _organization,
        Table.ORG_USERS: _invitation if "invitation_id" in (new or old) else _membership,
        Table.APIKEYS: _api_key,
        Table.WEBHOOKS: _webhook,
    }.get(event.table_name)
    parts = describe_table(event, actor, old, new, names) if describe_table else []
    if not parts:
        parts = [sentence(_("%(actor)s changed a record (%(table)s)."), actor=actor, table=event.table_name)]
    return format_html_join(" ", "{}", ((part,) for part in parts))


def _organization(
    event: AuditEvent, actor: str, old: dict[str, Any], new: dict[str, Any], names: Mapping[str, str]
) -> list[SafeString]:
    if event.operation == Op.INSERT:
        return [sentence(_("%(actor)s created the organization %(name)s."), actor=actor, name=new.get("name", ""))]
    if event.operation == Op.DELETE:
        return [sentence(_("%(actor)s deleted the organization %(name)s."), actor=actor, name=old.get("name", ""))]
    changed = set(event.changed_fields or ())
    parts = []
    if "name" in changed:
        parts.append(
            sentence(
                _("%(actor)s renamed the organization from %(old)s to %(new)s."),
                actor=actor,
                old=old.get("name", ""),
                new=new.get("name", ""),
            )  # fmt: skip
        )
    if "management_email" in changed:
        parts.append(
            sentence(
                _("%(actor)s changed the management email to %(email)s."), actor=actor, email=new["management_email"]
            )
        )
    if "website" in changed:
        parts.append(
            sentence(_("%(actor)s changed the website to %(url)s."), actor=actor, url=new["website"])
            if new.get("website")
            else sentence(_("%(actor)s removed the website."), actor=actor)
        )
    if "logo" in changed:
        parts.append(
            sentence(_("%(actor)s changed the logo."), actor=actor)
            if new.get("logo")
            else sentence(_("%(actor)s removed the logo."), actor=actor)
        )
    if changed & {"require_apikey_expiration", "max_apikey_expiration_days"}:
        policy = key_policy(bool(new.get("require_apikey_expiration")), new.get("max_apikey_expiration_days"))
        parts.append(sentence(_("%(actor)s changed the API key policy: %(policy)s."), actor=actor, policy=policy))
    if "enforcing_2fa" in changed:
        parts.append(
            sentence(_("%(actor)s required two-factor authentication from every member."), actor=actor)
            if new.get("enforcing_2fa")
            else sentence(_("%(actor)s stopped requiring two-factor authentication."), actor=actor)
        )
    if "password_policy_config" in changed:
        policy = password_policy(new.get("password_policy_config"))
        parts.append(
            sentence(
                _("%(actor)s changed the password policy: %(rules)s."), actor=actor, rules=", ".join(policy.describe())
            )
            if policy
            else sentence(_("%(actor)s turned the password policy off."), actor=actor)
        )
    return parts or [sentence(_("%(actor)s changed the organization's settings."), actor=actor)]


def _membership(
    event: AuditEvent, actor: str, old: dict[str, Any], new: dict[str, Any], names: Mapping[str, str]
) -> list[SafeString]:
    record = new or old
    member = names.get(record.get("user_id", "")) or record.get("email", "")
    by_themselves = event.actor_user_id is not None and event.actor_user_id == record.get("user_id")
    if event.operation == Op.INSERT:
        if by_themselves:
            return [sentence(_("%(member)s joined as %(role)s."), member=member, role=_role(new.get("role")))]
        return [
            sentence(
                _("%(actor)s added %(member)s as %(role)s."), actor=actor, member=member, role=_role(new.get("role"))
            )
        ]
    if event.operation == Op.DELETE:
        if by_themselves:
            return [sentence(_("%(member)s left the organization."), member=member)]
        return [
            sentence(
                _("%(actor)s removed %(member)s (%(role)s)."), actor=actor, member=member, role=_role(old.get("role"))
            )
        ]
    return [
        sentence(
            _("%(actor)s changed the role of %(member)s from %(old)s to %(new)s."),
            actor=actor,
            member=member,
            old=_role(old.get("role")),
            new=_role(new.get("role")),
        )  # fmt: skip
    ]


def _invitation(
    event: AuditEvent, actor: str, old: dict[str, Any], new: dict[str, Any], names: Mapping[str, str]
) -> list[SafeString]:
    record = new or old
    email, role = record.get("email", ""), _role(record.get("role"))
    if event.operation == Op.INSERT:
        return [sentence(_("%(actor)s invited %(email)s as %(role)s."), actor=actor, email=email, role=role)]
    if event.operation == Op.DELETE:
        return [sentence(_("%(actor)s withdrew the invitation for %(email)s."), actor=actor, email=email)]
    status = new.get("status")
    if status == "accepted":
        return [sentence(_("%(actor)s accepted the invitation as %(role)s."), actor=actor, role=role)]
    if status == "cancelled":
        # A decline is a cancellation by the invited address itself (services.invitation_decline).
        if event.actor_user_email and event.actor_user_email == email:
            return [sentence(_("%(actor)s declined the invitation."), actor=actor)]
        return [sentence(_("%(actor)s cancelled the invitation for %(email)s."), actor=actor, email=email)]
    if old.get("role") != new.get("role"):
        return [sentence(_("%(actor)s invited %(email)s again, as %(role)s."), actor=actor, email=email, role=role)]
    return [sentence(_("%(actor)s sent the invitation to %(email)s again."), actor=actor, email=email)]


def _api_key(
    event: AuditEvent, actor: str, old: dict[str, Any], new: dict[str, Any], names: Mapping[str, str]
) -> list[SafeString]:
    record = new or old
    name = record.get("name", "")
    if event.operation == Op.INSERT:
        if new.get("expires_at"):
            return [
                sentence(
                    _("%(actor)s created the API key %(name)s (%(mode)s, expires on %(date)s)."),
                    actor=actor,
                    name=name,
                    mode=_mode(new.get("mode")),
                    date=_date(new["expires_at"]),
                )  # fmt: skip
            ]
        return [
            sentence(
                _("%(actor)s created the API key %(name)s (%(mode)s, never expires)."),
                actor=actor,
                name=name,
                mode=_mode(new.get("mode")),
            )  # fmt: skip
        ]
    if event.operation == Op.DELETE:
        return [sentence(_("%(actor)s deleted the API key %(name)s."), actor=actor, name=name)]
    if new.get("regenerated"):
        return [sentence(_("%(actor)s regenerated the API key %(name)s."), actor=actor, name=name)]
    if new.get("revoked"):
        return [sentence(_("%(actor)s revoked the API key %(name)s."), actor=actor, name=name)]
    changed = set(event.changed_fields or ())
    parts = []
    if "name" in changed:
        parts.append(
            sentence(_("%(actor)s renamed the API key %(old)s to %(new)s."), actor=actor, old=old.get("name"), new=name)
        )
    if "mode" in changed:
        parts.append(
            sentence(
                _("%(actor)s changed the mode of the API key %(name)s from %(old)s to %(new)s."),
                actor=actor,
                name=name,
                old=_mode(old.get("mode")),
                new=_mode(new.get("mode")),
            )  # fmt: skip
        )
    if "expires_at" in changed:
        parts.append(
            sentence(
                _("%(actor)s set the API key %(name)s to expire on %(date)s."),
                actor=actor,
                name=name,
                date=_date(new["expires_at"]),
            )  # fmt: skip
            if new.get("expires_at")
            else sentence(_("%(actor)s set the API key %(name)s to never expire."), actor=actor, name=name)
        )
    if "limited_to_orgs" in changed:
        here = event.org_id in (new.get("limited_to_orgs") or ())
        parts.append(
            sentence(_("%(actor)s limited the API key %(name)s to this organization."), actor=actor, name=name)
            if here
            else sentence(_("The API key %(name)s no longer reaches this organization."), name=name)
        )
    return parts


def _webhook(
    event: AuditEvent, actor: str, old: dict[str, Any], new: dict[str, Any], names: Mapping[str, str]
) -> list[SafeString]:
    record = new or old
    name = record.get("name", "")
    if event.operation == Op.INSERT:
        return [sentence(_("%(actor)s added the webhook %(name)s."), actor=actor, name=name)]
    if event.operation == Op.DELETE:
        return [sentence(_("%(actor)s deleted the webhook %(name)s."), actor=actor, name=name)]
    changed = set(event.changed_fields or ())
    parts = []
    if new.get("secret_rotated"):
        parts.append(
            sentence(_("%(actor)s rotated the signing secret of the webhook %(name)s."), actor=actor, name=name)
        )
    if "enabled" in changed:
        if new.get("enabled"):
            parts.append(sentence(_("%(actor)s turned the webhook %(name)s on."), actor=actor, name=name))
        elif new.get("disabled_reason"):
            parts.append(
                sentence(
                    _("%(actor)s turned the webhook %(name)s off: %(reason)s"),
                    actor=actor,
                    name=name,
                    reason=new["disabled_reason"],
                )  # fmt: skip
            )
        else:
            parts.append(sentence(_("%(actor)s turned the webhook %(name)s off."), actor=actor, name=name))
    if "name" in changed:
        parts.append(
            sentence(_("%(actor)s renamed the webhook %(old)s to %(new)s."), actor=actor, old=old.get("name"), new=name)
        )
    if "url" in changed:
        parts.append(sentence(_("%(actor)s changed the address of the webhook %(name)s."), actor=actor, name=name))
    if "events" in changed:
        parts.append(
            sentence(
                _("%(actor)s changed the events the webhook %(name)s receives to %(events)s."),
                actor=actor,
                name=name,
                events=", ".join(new.get("events") or ()),
            )  # fmt: skip
        )
    return parts
