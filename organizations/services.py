"""Every write that has a rule. Each runs in one transaction and records its audit event there.

Callers (API views, pages, admin actions, commands) pass an already-authenticated `actor`
(None means the system). Organization-level changes lock the organization row first, so two
requests racing on the same organization's members run one after the other.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.mfa import has_second_factor, second_factor_exists
from accounts.verification import is_verified
from organizations import api_keys, audit, emails, ratelimit
from organizations.access import ORG, Compliance, compliance
from organizations.exceptions import (
    ApiKeyLimitReached,
    EmailNotVerified,
    Invalid,
    InvitationNotFound,
    LastSuperAdmin,
    MemberNotFound,
    OrgNotFound,
    RateLimited,
    Requires2FAToEnforce2FA,
)
from organizations.models import ApiKey, ApiKeyOrgLimit, AuditEvent, Invitation, Membership, Organization, User
from organizations.roles import INVITE_PREFIX, Action, Principal, Role, authorize_member_change, check_key_mode
from organizations.rows import Columns, insert, reader, update, uuid_text
from organizations.security import password_policy

Table = AuditEvent.Table
Op = AuditEvent.Operation


@cache
def _lock_sql() -> str:
    """The organization by id, its row locked (FOR UPDATE where the database has row locks; SQLite's
    write transactions are serialized already). Written once: every write with a rule runs it."""
    qn = connection.ops.quote_name
    org = Organization._meta
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return f"SELECT {ORG.select()} FROM {qn(org.db_table)} o WHERE o.{qn(org.pk.column)} = %s{lock}"  # noqa: S608


def _require_transaction() -> None:
    if not connection.in_atomic_block:
        raise transaction.TransactionManagementError("_lock outside a transaction would lock nothing")


def _lock(org: Organization) -> Organization:
    """Lock the organization row for the rest of the transaction (a no-op on SQLite), and read it again."""
    _require_transaction()
    with connection.cursor() as cursor:
        cursor.execute(_lock_sql(), [org.pk])
        row = cursor.fetchone()
    if row is None:
        # Deleted by a concurrent request since the caller looked it up.
        raise OrgNotFound()
    return ORG.load(row)


_MEMBER = Columns(Membership, "m")
_ACCOUNT = Columns(User, "u")
_INVITATION = Columns(Invitation, "i")


@cache
def _member_sql() -> str:
    """An address's account, its membership of an organization and its pending invitation there, each
    if any: always one row (parameters: the address, the organization twice, the pending status).
    Neither row is locked: every change of members or invitations takes the organization's first."""
    qn = connection.ops.quote_name
    user, membership, invitation = User._meta, Membership._meta, Invitation._meta
    address = qn("address")
    return (
        f"SELECT {_MEMBER.select()}, {_ACCOUNT.select()}, {_INVITATION.select()} "  # noqa: S608
        f"FROM (SELECT %s AS {address}) a LEFT JOIN {qn(user.db_table)} u ON u.{qn('email')} = a.{address} "
        f"LEFT JOIN {qn(membership.db_table)} m ON m.{qn('organization_id')} = %s AND m.{qn('user_id')} = u.{qn('id')} "
        f"LEFT JOIN {qn(invitation.db_table)} i ON i.{qn('organization_id')} = %s AND i.{qn('email')} = a.{address} "
        f"AND i.{qn('status')} = %s"
    )


def _member_from_row(values: Any) -> tuple[Membership | None, User | None, Invitation | None]:
    membership_values = values[: len(_MEMBER)]
    account_values = values[len(_MEMBER) : len(_MEMBER) + len(_ACCOUNT)]
    invitation_values = values[len(_MEMBER) + len(_ACCOUNT) :]
    account = _ACCOUNT.load(account_values) if account_values[_ACCOUNT.attnames.index("id")] is not None else None
    invitation = _INVITATION.load(invitation_values) if invitation_values[0] is not None else None
    if membership_values[0] is None:
        return None, account, invitation
    membership = _MEMBER.load(membership_values)
    membership.user = account
    return membership, account, invitation


def _lock_with_member(
    org: Organization, email: str
) -> tuple[Organization, Membership | None, User | None, Invitation | None]:
    """`_lock`, then `email`'s membership of the organization, account and pending invitation.

    Two statements, in that order: the rows read need no lock of their own (every change of
    members and invitations takes the organization's first), but they must be read after the
    lock is held. Read in the locking statement itself, they would come from that statement's
    snapshot, taken before the wait for the lock: a removal committed meanwhile by the holder
    would go unseen (PostgreSQL re-reads only the locked row; tests/test_concurrency.py)."""
    locked = _lock(org)
    with connection.cursor() as cursor:
        cursor.execute(_member_sql(), [email, locked.pk, locked.pk, Invitation.Status.PENDING])
        row = cursor.fetchone()
    membership, account, invitation = _member_from_row(row)
    if membership is not None:
        membership.organization = locked
    return locked, membership, account, invitation


# Organizations ---------------------------------------------------------------------------


def organization_create(
    *,
    actor: Principal,
    name: str,
    management_email: str | None = None,
    website: str | None = None,
    logo_url: str | None = None,
) -> Organization:
    """Create an organization with the caller as its first super_admin."""
    check_key_mode(actor, Action.CREATE_ORG)
    with transaction.atomic():
        org = Organization.objects.create(
            name=name,
            management_email=management_email or actor.user.email,
            website=website,
            logo_url=logo_url,
            created_by=actor.user,
        )
        membership = Membership.objects.create(user=actor.user, organization=org, role=Role.SUPER_ADMIN)
        # Both events in one statement (and one look-up of webhooks, which a new organization has none of).
        audit.record_many([
            audit.event(
                actor, org_id=org.id, table=Table.ORGS, record_id=org.id, operation=Op.INSERT,
                new=audit.organization_snapshot(org),
            ),
            audit.event(
                actor, org_id=org.id, table=Table.ORG_USERS, record_id=actor.user.pk, operation=Op.INSERT,
                new=audit.membership_snapshot(membership),
            ),
        ])  # fmt: skip
    return org


SECURITY_POLICY_FIELDS = frozenset({"enforcing_2fa", "password_policy_config"})
ORG_EDITABLE_FIELDS = (
    frozenset(
        {"name", "management_email", "website", "logo_url", "require_apikey_expiration", "max_apikey_expiration_days"}
    )
    | SECURITY_POLICY_FIELDS
)


def organization_update(
    *,
    actor: Principal | None,
    org: Organization,
    changes: dict[str, Any],
    logo_file: ContentFile | None = None,
    password: str | None = None,
) -> Organization:
    """Apply validated `changes` (a subset of ORG_EDITABLE_FIELDS), and a new logo file if given.

    Turning 2FA enforcement on needs a second factor of the caller's own. `password`, the caller's
    own and already confirmed (the settings page asks for it with a new password policy), must meet
    the new policy and is recorded as meeting it, so the admin is not locked out by their own change.
    """
    unknown = set(changes) - ORG_EDITABLE_FIELDS
    if unknown:
        raise Invalid(code="invalid_body", details={field: [_("This field cannot be changed.")] for field in unknown})
    old_logo = None
    with transaction.atomic():
        org = _lock(org)  # the stored state: a form may have set the new values on the caller's copy
        turning_on_2fa = changes.get("enforcing_2fa") and not org.enforcing_2fa
        if turning_on_2fa and actor is not None and not has_second_factor(actor.user):
            raise Requires2FAToEnforce2FA()
        new_policy = password_policy(changes.get("password_policy_config", org.password_policy_config))
        if password is not None and new_policy is not None and new_policy.problems(password):
            raise Invalid(
                _("Your password does not meet the new policy: it needs %(missing)s.")
                % {"missing": ", ".join(new_policy.problems(password))},
                details={"password": new_policy.problems(password)},
            )
        before = audit.organization_snapshot(org)
        for field, value in changes.items():
            setattr(org, field, value)
        if password is not None and new_policy is not None and actor is not None:
            Membership.objects.filter(organization=org, user=actor.user).update(
                password_policy_fingerprint=new_policy.fingerprint
            )
        if logo_file is not None:
            old_logo = org.logo_file.name or None
            org.logo_file.save(logo_file.name or "logo.png", logo_file, save=False)
        elif "logo_url" in changes and org.logo_file:
            # Setting or clearing the logo through the API replaces an uploaded file.
            old_logo = org.logo_file.name
            org.logo_file = ""
        after = audit.organization_snapshot(org)
        if after != before or logo_file is not None:
            org.save()
            audit.record(
                actor, org_id=org.id, table=Table.ORGS, record_id=org.id, operation=Op.UPDATE, old=before, new=after
            )
        if old_logo:
            storage = org.logo_file.storage
            transaction.on_commit(lambda: storage.delete(old_logo))
    return org


def organization_delete(*, actor: Principal | None, org: Organization) -> None:
    """Delete an organization with its memberships, invitations and key limits. The audit log stays.

    Every row that goes with it gets its own audit event, written in one statement.
    """
    with transaction.atomic():
        org = _lock(org)
        events = [
            audit.event(
                actor, org_id=org.id, table=Table.ORG_USERS, record_id=m.user_id, operation=Op.DELETE,
                old=audit.membership_snapshot(m),
            )
            for m in Membership.objects.select_related("user").filter(organization=org)
        ]  # fmt: skip
        events += [
            audit.event(
                actor, org_id=org.id, table=Table.ORG_USERS, record_id=i.id, operation=Op.DELETE,
                old=audit.invitation_snapshot(i),
            )
            for i in Invitation.objects.filter(organization=org, status=Invitation.Status.PENDING)
        ]  # fmt: skip
        limited_keys = ApiKey.objects.filter(org_limits__organization=org).prefetch_related("org_limits")
        for key in limited_keys:
            org_ids = [limit.organization_id for limit in key.org_limits.all()]
            remaining = [o for o in org_ids if o != org.id]
            events.append(
                audit.event(
                    actor, org_id=org.id, table=Table.APIKEYS, record_id=key.pk, operation=Op.UPDATE,
                    old=audit.api_key_snapshot(key, org_ids), new=audit.api_key_snapshot(key, remaining),
                )
            )  # fmt: skip
        events.append(
            audit.event(
                actor, org_id=org.id, table=Table.ORGS, record_id=org.id, operation=Op.DELETE,
                old=audit.organization_snapshot(org),
            )
        )  # fmt: skip
        audit.record_many(events)
        logo = org.logo_file.name or None
        storage = org.logo_file.storage
        org.delete()
        if logo:
            transaction.on_commit(lambda: storage.delete(logo))


# Members and invitations -----------------------------------------------------------------


class MemberRow(NamedTuple):
    """A row of the member list: an accepted member or a pending invitation."""

    uid: str
    email: str
    image_url: str | None
    role: str
    is_tmp: bool
    name: str = ""
    expires_at: datetime | None = None
    invitation_id: str | None = None

    @classmethod
    def of_membership(cls, membership: Membership) -> MemberRow:
        user = membership.user
        return cls(
            uid=str(user.pk),
            email=user.email,
            image_url=user.avatar.url if user.avatar else None,
            role=membership.role,
            is_tmp=False,
            name=user.name,
        )

    @classmethod
    def of_invitation(cls, invitation: Invitation, user: User | None) -> MemberRow:
        return cls(
            uid=str(user.pk) if user else str(invitation.id),
            email=invitation.email,
            image_url=user.avatar.url if user and user.avatar else None,
            role=invitation.display_role,
            is_tmp=user is None,
            name=user.name if user else "",
            expires_at=invitation.expires_at,
            invitation_id=str(invitation.id),
        )


@cache
def _member_rows_sql() -> str:
    """Members in the order they joined, then pending unexpired invitations in the order they were
    sent, each with the account its address belongs to if there is one: one statement.

    Written once rather than built by the ORM on every call (three querysets cost several times
    the CPU of running them, bench/README.md); only identifiers and constants go into the text.
    The parameters: the organization twice, the pending status, now.
    """
    qn = connection.ops.quote_name
    m, u, i = Membership._meta.db_table, User._meta.db_table, Invitation._meta.db_table
    member_id, account_id, invitation_id = (uuid_text(f"{alias}.{qn(name)}") for alias, name in [
        ("m", "user_id"), ("u", "id"), ("i", "id")
    ])  # fmt: skip
    return (
        f"SELECT 0, ROW_NUMBER() OVER (ORDER BY m.{qn('created_at')}, m.{qn('id')}), "  # noqa: S608
        f"{member_id}, u.{qn('email')}, u.{qn('name')}, u.{qn('avatar')}, "
        f"m.{qn('role')}, NULL, NULL "
        f"FROM {qn(m)} m INNER JOIN {qn(u)} u ON u.{qn('id')} = m.{qn('user_id')} "
        f"WHERE m.{qn('organization_id')} = %s "
        f"UNION ALL "
        f"SELECT 1, ROW_NUMBER() OVER (ORDER BY i.{qn('created_at')}, i.{qn('id')}), "
        f"{account_id}, i.{qn('email')}, u.{qn('name')}, u.{qn('avatar')}, "
        f"i.{qn('role')}, i.{qn('expires_at')}, {invitation_id} "
        f"FROM {qn(i)} i LEFT JOIN {qn(u)} u ON u.{qn('email')} = i.{qn('email')} "
        f"WHERE i.{qn('organization_id')} = %s AND i.{qn('status')} = %s AND i.{qn('expires_at')} > %s "
        f"ORDER BY 1, 2"
    )


@cache
def _invitation_expiry() -> tuple[Any, Any]:
    """How `Invitation.expires_at` goes into a statement and comes back out of one."""
    field = Invitation._meta.get_field("expires_at")
    return (lambda value: field.get_db_prep_value(value, connection)), reader(Invitation, "expires_at")


def member_rows(org: Organization) -> list[MemberRow]:
    """Members, then pending unexpired invitations: one statement whatever the size."""
    avatar_url = User._meta.get_field("avatar").storage.url
    prep_expiry, read_expiry = _invitation_expiry()
    with connection.cursor() as cursor:
        cursor.execute(_member_rows_sql(), [org.id, org.id, Invitation.Status.PENDING, prep_expiry(timezone.now())])
        found = cursor.fetchall()
    return [
        MemberRow(uid, email, avatar_url(avatar) if avatar else None, role, False, name)
        if part == 0
        else MemberRow(
            uid or invitation_id, email, avatar_url(avatar) if avatar else None, INVITE_PREFIX + role, uid is None,
            name or "", read_expiry(expires_at), invitation_id,
        )
        for part, _n, uid, email, name, avatar, role, expires_at, invitation_id in found
    ]  # fmt: skip


@dataclass(frozen=True)
class SecurityRow:
    """A member as the security report shows them: a second factor or not, and the policies' verdict."""

    uid: str
    email: str
    role: str
    two_factor: bool
    compliance: Compliance


def security_rows(org: Organization) -> list[SecurityRow]:
    """Every accepted member and whether they comply, by the same rule `access.org_for` applies: one query."""
    rows = (
        Membership.objects.filter(organization=org)
        .order_by("created_at", "id")
        .annotate(has_factor=second_factor_exists("user_id"))
        .values_list("user_id", "user__email", "role", "has_factor", "password_policy_fingerprint")
    )
    return [
        SecurityRow(
            uid=str(uid), email=email, role=role, two_factor=bool(has_factor),
            compliance=compliance(org, has_second_factor=bool(has_factor), password_fingerprint=fingerprint),
        )
        for uid, email, role, has_factor, fingerprint in rows
    ]  # fmt: skip


def _last_super_admin_guard(org: Organization, membership: Membership) -> None:
    """Refuse to demote or remove the only super_admin. The caller holds the org lock."""
    if membership.role != Role.SUPER_ADMIN:
        return
    others = Membership.objects.filter(organization=org, role=Role.SUPER_ADMIN).exclude(pk=membership.pk)
    if not others.exists():
        raise LastSuperAdmin()


def _role_of(org: Organization, user: User) -> str | None:
    """`user`'s role in `org` at the start of the request: `access.org_for` read the caller's with the
    organization (`my_role`, no query more); otherwise it is looked up."""
    if getattr(org, "my_role", None) is not None and getattr(org, "my_role_user_id", None) == user.pk:
        return org.my_role
    return Membership.objects.filter(organization=org, user=user).values_list("role", flat=True).first()


def member_change_role(
    *, actor: Principal, org: Organization, membership: Membership, new_role: str, as_staff: bool = False
) -> Membership:
    """Change an accepted member's role under the role rules and the last-super_admin rule.

    `as_staff` (the Django admin) skips only the caller's role check; the last-super_admin rule
    and the audit event (with the staff user as actor) hold.
    """
    # The caller is authorized with the role they held when the request began; the lock then
    # serializes the changes, so of two racing demotions of the last two super_admins the
    # second meets the last-super_admin rule (409), whatever the first did to its caller.
    actor_role = None if as_staff else _role_of(org, actor.user)
    with transaction.atomic():
        org = _lock(org)
        # Re-read under the lock: a concurrent request may have changed or removed the member.
        membership = Membership.objects.select_related("user").filter(pk=membership.pk).first()
        if membership is None:
            raise MemberNotFound()
        return _change_role_locked(actor, actor_role, org, membership, new_role, as_staff=as_staff)


def _change_role_locked(
    actor: Principal,
    actor_role: str | None,
    org: Organization,
    membership: Membership,
    new_role: str,
    *,
    as_staff: bool = False,
) -> Membership:
    """`member_change_role` once the organization is locked and the membership read under the lock."""
    if not as_staff:
        authorize_member_change(actor, actor_role, target_role=membership.role, new_role=new_role)
    if membership.role == new_role:
        return membership
    if new_role != Role.SUPER_ADMIN:
        _last_super_admin_guard(org, membership)
    before = audit.membership_snapshot(membership)
    membership.role = new_role
    membership.save(update_fields=["role", "updated_at"])
    audit.record(
        actor, org_id=org.id, table=Table.ORG_USERS, record_id=membership.user_id, operation=Op.UPDATE,
        old=before, new=audit.membership_snapshot(membership),
    )  # fmt: skip
    return membership


def _new_invitation_token() -> tuple[str, str]:
    token = secrets.token_urlsafe(32)
    return token, hashlib.sha256(token.encode()).hexdigest()


def invitation_by_token(token: str) -> Invitation | None:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return Invitation.objects.select_related("organization", "invited_by").filter(token_hash=digest).first()


def member_invite(*, actor: Principal, org: Organization, email: str, role: str) -> MemberRow:
    """Invite `email` with `role`, resend a pending invitation, or change an existing member's role."""
    email = email.strip().lower()
    actor_role = _role_of(org, actor.user)  # as in member_change_role: the role at the request's start
    with transaction.atomic():
        org, member, account, invitation = _lock_with_member(org, email)
        if member is not None:
            return MemberRow.of_membership(_change_role_locked(actor, actor_role, org, member, role))
        authorize_member_change(actor, actor_role, target_role=invitation.role if invitation else None, new_role=role)
        _count_invitation_email(actor.user, org, email)
        token, digest = _new_invitation_token()
        expires_at = timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS)
        if invitation is None:
            invitation = insert(
                Invitation(
                    organization=org, email=email, role=role, token_hash=digest, invited_by=actor.user,
                    expires_at=expires_at,
                )
            )  # fmt: skip
            audit.record(
                actor, org_id=org.id, table=Table.ORG_USERS, record_id=invitation.id, operation=Op.INSERT,
                new=audit.invitation_snapshot(invitation),
            )  # fmt: skip
        else:
            before = audit.invitation_snapshot(invitation)
            invitation.role = role
            invitation.token_hash = digest
            invitation.expires_at = expires_at
            invitation.invited_by = actor.user
            invitation.save()
            audit.record(
                actor, org_id=org.id, table=Table.ORG_USERS, record_id=invitation.id, operation=Op.UPDATE,
                old=before, new=audit.invitation_snapshot(invitation),
            )  # fmt: skip
        invitation.organization = org
        # Queued with the invitation (they commit together) and sent by a worker: a mail server
        # outage neither fails this request nor loses the email.
        emails.send_invitation(invitation, token, inviter=actor.user)
    return MemberRow.of_invitation(invitation, account)


def _count_invitation_email(sender: User, org: Organization, recipient: str) -> None:
    """Caps on the invitation emails we send on someone's behalf: per sender, organization and recipient.

    Refuses (429) before anything is written; a refused request counts nowhere. Without a
    reachable cache the caps do not apply (the rate limiter's fail-open rule).
    """
    caps = [
        ("invite-sender", sender.pk, settings.INVITATION_EMAILS_PER_HOUR_PER_SENDER),
        ("invite-org", org.pk, settings.INVITATION_EMAILS_PER_HOUR_PER_ORG),
        (
            "invite-recipient",
            hashlib.sha256(recipient.encode()).hexdigest()[:32],
            settings.INVITATION_EMAILS_PER_HOUR_PER_RECIPIENT,
        ),
    ]
    refused = ratelimit.charge_all(caps, window=INVITATION_CAP_WINDOW)  # one round trip to Redis
    if refused is not None:
        position, decision = refused
        raise RateLimited(_invitation_cap_message(caps[position][0], decision.reset), retry_after=decision.reset)


INVITATION_CAP_WINDOW = 3600


def _invitation_cap_message(scope: str, reset: int) -> str:
    minutes = max(1, round(reset / 60))
    if scope == "invite-recipient":
        return _("Too many invitations were sent to this address. Try again in %(minutes)s minutes.") % {
            "minutes": minutes
        }
    return _("Too many invitations were sent. Try again in %(minutes)s minutes.") % {"minutes": minutes}


def member_remove(*, actor: Principal, org: Organization, email: str, as_staff: bool = False) -> None:
    """Remove a member, let a member leave, or cancel a pending invitation.

    `as_staff` (the Django admin) skips only the caller's role check, as in member_change_role.
    """
    email = email.strip().lower()
    actor_role = _role_of(org, actor.user)  # as in member_change_role: the role at the request's start
    with transaction.atomic():
        org, membership, _account, invitation = _lock_with_member(org, email)
        if membership is not None:
            is_self = membership.user_id == actor.user.pk
            if not as_staff:
                authorize_member_change(actor, actor_role, target_role=membership.role, is_self=is_self)
            _last_super_admin_guard(org, membership)
            audit.record(
                actor, org_id=org.id, table=Table.ORG_USERS, record_id=membership.user_id, operation=Op.DELETE,
                old=audit.membership_snapshot(membership),
            )  # fmt: skip
            membership.delete()
            return
        if invitation is None:
            # Same answer whether or not the address has an account anywhere.
            if not as_staff:
                authorize_member_change(actor, actor_role, target_role=None, new_role=Role.READ)
            raise MemberNotFound()
        if not as_staff:
            authorize_member_change(actor, actor_role, target_role=None, new_role=invitation.role)
        _cancel_locked(actor, invitation)


def invitation_cancel(*, actor: Principal | None, invitation: Invitation) -> Invitation:
    """Cancel a pending invitation; its link stops working."""
    with transaction.atomic():
        # The organization's lock first, as every change of its members and invitations takes it
        # (member_invite and member_remove read the invitation under it, without a lock of its own).
        _lock(Organization(pk=invitation.organization_id))
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.status != Invitation.Status.PENDING:
            raise InvitationNotFound()
        _cancel_locked(actor, invitation)
    return invitation


def _cancel_locked(actor: Principal | None, invitation: Invitation) -> None:
    """Cancel `invitation`, pending and read under its organization's lock, with its audit event."""
    before = audit.invitation_snapshot(invitation)
    invitation.status = Invitation.Status.CANCELLED
    update(invitation, ["status", "updated_at"])
    audit.record(
        actor, org_id=invitation.organization_id, table=Table.ORG_USERS, record_id=invitation.id,
        operation=Op.UPDATE, old=before, new=audit.invitation_snapshot(invitation),
    )  # fmt: skip


def invitation_decline(*, actor: Principal, invitation: Invitation | None) -> Invitation:
    """The invited person says no: the invitation is cancelled with them as its actor (the audit
    log tells a decline from a cancellation by who did it). Only the invited address may decline."""
    if invitation is None or invitation.email != actor.user.email or not is_verified(actor.user):
        raise InvitationNotFound()
    return invitation_cancel(actor=actor, invitation=invitation)


def pending_invitation_for(user: User, org_id: str) -> Invitation | None:
    return (
        Invitation.objects.select_related("organization", "invited_by")
        .filter(organization_id=org_id, email=user.email, status=Invitation.Status.PENDING)
        .first()
    )


def invitation_accept(*, actor: Principal, invitation: Invitation | None) -> Membership:
    """The invited user accepts: only the invited address, once, before it expires."""
    if invitation is None:
        raise InvitationNotFound()
    # Only the owner of the invited address may take the invitation's place (and role).
    if not is_verified(actor.user):
        raise EmailNotVerified()
    with transaction.atomic():
        org = _lock(invitation.organization)
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.email != actor.user.email:
            raise InvitationNotFound(_("This invitation was sent to another email address."))
        if invitation.status == Invitation.Status.ACCEPTED:
            raise InvitationNotFound(_("This invitation has already been accepted."))
        if invitation.status == Invitation.Status.CANCELLED:
            raise InvitationNotFound(_("This invitation has been cancelled."))
        if invitation.is_expired():
            raise InvitationNotFound(_("This invitation has expired. Ask for a new one."))
        before = audit.invitation_snapshot(invitation)
        invitation.status = Invitation.Status.ACCEPTED
        invitation.save(update_fields=["status", "updated_at"])
        events = [
            audit.event(
                actor, org_id=org.id, table=Table.ORG_USERS, record_id=invitation.id, operation=Op.UPDATE,
                old=before, new=audit.invitation_snapshot(invitation),
            )
        ]  # fmt: skip
        membership, created = Membership.objects.get_or_create(
            organization=org, user=actor.user, defaults={"role": invitation.role}
        )
        if created:
            events.append(
                audit.event(
                    actor, org_id=org.id, table=Table.ORG_USERS, record_id=actor.user.pk, operation=Op.INSERT,
                    new=audit.membership_snapshot(membership),
                )
            )  # fmt: skip
        audit.record_many(events)  # one statement, one look-up of webhooks
    return membership


# API keys --------------------------------------------------------------------------------


def api_key_policy_refusals(orgs: Iterable[Organization], expires_at: datetime | None) -> list[Invalid]:
    """What each of `orgs` says about a key expiring at `expires_at` (None: never): one error per
    organization whose API-key policy refuses it. The key form asks this before it creates a key."""
    refusals = []
    for org in orgs:
        if org.require_apikey_expiration and expires_at is None:
            refusals.append(
                Invalid(
                    _("Organization %(name)s requires API keys with an expiration date") % {"name": org.name},
                    code="expiration_required",
                    details={"org_id": org.id},
                )
            )
            continue
        days = org.max_apikey_expiration_days
        if days and expires_at is not None and expires_at > timezone.now() + timedelta(days=days):
            refusals.append(
                Invalid(
                    _("API key expiration cannot exceed %(days)s days for this organization") % {"days": days},
                    code="expiration_exceeds_max",
                    details={"org_id": org.id, "max_days": days},
                )
            )
    return refusals


def _check_expiry_policy(orgs: Iterable[Organization], expires_at: datetime | None) -> None:
    refusals = api_key_policy_refusals(orgs, expires_at)
    if refusals:
        raise refusals[0]


def _orgs_for_limits(user: User, org_ids: Iterable[str]) -> list[Organization]:
    """The caller's organizations among `org_ids`; any other id is 404 org_not_found."""
    wanted = set(org_ids)
    orgs = list(Organization.objects.filter(id__in=wanted, memberships__user=user))
    missing = wanted - {o.id for o in orgs}
    if missing:
        raise OrgNotFound(details={"org_id": sorted(missing)[0]})
    return orgs


def _record_key_event(
    actor: Principal | None,
    key: ApiKey,
    operation: str,
    org_ids: Iterable[str],
    old: audit.Snapshot | None,
    new: audit.Snapshot | None,
) -> None:
    # One event per organization the key is limited to; an unlimited key's event has no org.
    for org_id in sorted(set(org_ids)) or [None]:
        audit.record(actor, org_id=org_id, table=Table.APIKEYS, record_id=key.pk, operation=operation, old=old, new=new)


def _key_org_ids(key: ApiKey) -> list[str]:
    return list(ApiKeyOrgLimit.objects.filter(api_key=key).values_list("organization_id", flat=True))


def api_key_create(
    *,
    actor: Principal | None,
    user: User,
    name: str,
    mode: str = ApiKey.Mode.ALL,
    limited_to_orgs: Iterable[str] = (),
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key for `user`. Returns the key and its plaintext, which is never available again."""
    if actor is not None:
        check_key_mode(actor, Action.MANAGE_API_KEYS)
    if not is_verified(user):
        raise EmailNotVerified()
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid(_("Expiration date must be in the future"), details={"expires_at": ["Must be in the future."]})
    orgs = sorted(_orgs_for_limits(user, limited_to_orgs), key=lambda o: o.id)
    _check_expiry_policy(orgs, expires_at)
    new = api_keys.generate_key()
    with transaction.atomic():
        _check_key_cap(user)
        key = ApiKey.objects.create(
            user=user, name=name, mode=mode, lookup=new.lookup, digest=new.digest, expires_at=expires_at,
            is_limited=bool(orgs),
        )  # fmt: skip
        ApiKeyOrgLimit.objects.bulk_create([ApiKeyOrgLimit(api_key=key, organization=o) for o in orgs])
        org_ids = [o.id for o in orgs]
        _record_key_event(actor, key, Op.INSERT, org_ids, None, audit.api_key_snapshot(key, org_ids))
    key.limited_org_ids = frozenset(org_ids)
    return key, new.plaintext


def _check_key_cap(user: User) -> None:
    """At most API_KEYS_PER_USER keys per user (revoked ones aside; expired ones count until deleted).

    Counted after locking the user's row (on SQLite the transaction holds the write lock
    already), so that two concurrent creations cannot both take the last place.
    """
    User.objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
    if ApiKey.objects.filter(user=user, revoked_at__isnull=True).count() >= settings.API_KEYS_PER_USER:
        raise ApiKeyLimitReached(details={"limit": settings.API_KEYS_PER_USER})


def api_key_update(
    *,
    actor: Principal | None,
    key: ApiKey,
    changes: dict[str, Any],
    regenerate: bool = False,
) -> tuple[ApiKey, str | None]:
    """Change name, mode, limits or expiry; with `regenerate`, a new secret replaces the old at once."""
    if actor is not None:
        check_key_mode(actor, Action.MANAGE_API_KEYS)
    plaintext = None
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().select_related("user").get(pk=key.pk)
        old_org_ids = _key_org_ids(key)
        before = audit.api_key_snapshot(key, old_org_ids)
        new_org_ids = old_org_ids
        if "expires_at" in changes:
            expires_at = changes["expires_at"]
            if expires_at is not None and expires_at <= timezone.now():
                raise Invalid(
                    _("Expiration date must be in the future"), details={"expires_at": ["Must be in the future."]}
                )
            key.expires_at = expires_at
        if "limited_to_orgs" in changes:
            orgs = _orgs_for_limits(key.user, changes["limited_to_orgs"])
            new_org_ids = [o.id for o in orgs]
        if "expires_at" in changes or "limited_to_orgs" in changes:
            _check_expiry_policy(Organization.objects.filter(id__in=new_org_ids), key.expires_at)
        if "name" in changes:
            key.name = changes["name"]
        if "mode" in changes:
            key.mode = changes["mode"]
        if "limited_to_orgs" in changes:
            ApiKeyOrgLimit.objects.filter(api_key=key).delete()
            ApiKeyOrgLimit.objects.bulk_create(
                [ApiKeyOrgLimit(api_key=key, organization_id=o) for o in sorted(new_org_ids)]
            )
            key.is_limited = bool(new_org_ids)
        if regenerate:
            new = api_keys.generate_key()
            key.lookup, key.digest, plaintext = new.lookup, new.digest, new.plaintext
        key.save()
        after = audit.api_key_snapshot(key, new_org_ids)
        if after != before or regenerate:
            after_record = dict(after, regenerated=True) if regenerate else after
            _record_key_event(actor, key, Op.UPDATE, set(old_org_ids) | set(new_org_ids), before, after_record)
    key.__dict__.pop("limited_org_ids", None)
    return key, plaintext


def api_key_delete(*, actor: Principal | None, key: ApiKey) -> None:
    """Delete a key; it stops working on its very next use."""
    if actor is not None:
        check_key_mode(actor, Action.MANAGE_API_KEYS)
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=key.pk)
        org_ids = _key_org_ids(key)
        _record_key_event(actor, key, Op.DELETE, org_ids, audit.api_key_snapshot(key, org_ids), None)
        key.delete()


def api_key_revoke(*, actor: Principal | None, key: ApiKey) -> ApiKey:
    """Revoke a key but keep its row (staff use this in the admin)."""
    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=key.pk)
        if key.revoked_at is not None:
            return key
        org_ids = _key_org_ids(key)
        before = audit.api_key_snapshot(key, org_ids)
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
        _record_key_event(actor, key, Op.UPDATE, org_ids, before, dict(before, revoked=True))
    return key


def api_keys_revoke_all(*, actor: Principal | None, user: User) -> int:
    """Revoke every live key of `user` (after a password change or reset); returns how many."""
    with transaction.atomic():
        keys = list(ApiKey.objects.filter(user=user, revoked_at__isnull=True))
        for key in keys:
            api_key_revoke(actor=actor, key=key)
    return len(keys)


def password_checked(*, user: User, password: str) -> None:
    """The person just typed `password` (a login, a new password, a confirmation): remember, per
    organization with a password policy, whether it meets the current one. The password is not kept."""
    memberships = Membership.objects.filter(user=user, organization__password_policy_config__isnull=False)
    for membership_id, config, stored in memberships.values_list(
        "id", "organization__password_policy_config", "password_policy_fingerprint"
    ):
        policy = password_policy(config)
        fingerprint = policy.fingerprint if policy is not None and not policy.problems(password) else ""
        if fingerprint != stored:
            Membership.objects.filter(pk=membership_id).update(password_policy_fingerprint=fingerprint)


# Users -----------------------------------------------------------------------------------


def user_delete(*, actor: Principal, user: User) -> None:
    """Remove a person's memberships and keys through the services, then the person.

    One transaction: if they are an organization's only super_admin, nothing is deleted.
    """
    with transaction.atomic():
        for membership in Membership.objects.select_related("organization").filter(user=user):
            member_remove(actor=actor, org=membership.organization, email=user.email, as_staff=True)
        for key in ApiKey.objects.filter(user=user):
            api_key_delete(actor=actor, key=key)
        user.delete()
