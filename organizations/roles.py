"""Roles, key modes and the one answer to "may this principal do this action here?".

Every surface asks `authorize` (which raises) or `can` (which answers yes or no): the API,
the pages (to hide buttons they would refuse), the admin and the tests. The rule table lives
here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

from django.db import models
from django.utils.translation import gettext_lazy as _

from organizations.exceptions import InsufficientRole, KeyModeForbidden, OrgNotFound

if TYPE_CHECKING:
    from organizations.models import ApiKey, User


class Role(models.TextChoices):
    """Organization roles, lowest first: the order is the privilege order."""

    READ = "read", _("Read")
    UPLOAD = "upload", _("Upload")
    WRITE = "write", _("Write")
    ADMIN = "admin", _("Admin")
    SUPER_ADMIN = "super_admin", _("Super admin")


# What each role may do, as the pages say it next to every role picker. Each role has what the
# one before it has; the table below (Action) is what enforces it.
ROLE_DESCRIPTIONS: dict[str, str] = {
    Role.READ: _("Sees the organization, its members and its apps."),
    Role.UPLOAD: _("Everything Read can, and uploads new bundles."),
    Role.WRITE: _("Everything Upload can, and changes apps, channels and devices."),
    Role.ADMIN: _("Everything Write can, and manages members, settings, webhooks and the audit log."),
    Role.SUPER_ADMIN: _("Everything Admin can, and grants or removes super admins. At least one stays."),
}

ROLE_ORDER: tuple[str, ...] = tuple(Role.values)
_RANK = {role: rank for rank, role in enumerate(ROLE_ORDER)}
INVITE_PREFIX = "invite_"


def rank(role: str) -> int:
    return _RANK[role]


def at_least(role: str | None, minimum: str) -> bool:
    return role is not None and _RANK[role] >= _RANK[minimum]


def parse_role(value: str) -> str | None:
    """`write` and `invite_write` both mean `write`; anything else is None."""
    if value.startswith(INVITE_PREFIX):
        value = value[len(INVITE_PREFIX) :]
    return value if value in _RANK else None


class KeyMode(models.TextChoices):
    """What a key may do, on top of its user's role: `check_key_mode` below is the rule."""

    READ = "read", _("Read")
    UPLOAD = "upload", _("Upload")
    WRITE = "write", _("Write")
    ALL = "all", _("All")


KEY_MODE_DESCRIPTIONS: dict[str, str] = {
    KeyMode.READ: _("Reads only: organizations, members and the audit log. Changes nothing."),
    KeyMode.UPLOAD: _("Reads, and uploads bundles. Changes nothing else."),
    KeyMode.WRITE: _("Reads and changes what your role allows, except API keys."),
    KeyMode.ALL: _("Everything your role allows, managing your API keys included (when not limited)."),
}
# The mode a new key gets unless its owner picks another: the weakest, so a leaked key does least harm.
DEFAULT_KEY_MODE = KeyMode.READ


class Action(Enum):
    """What a principal may try: (name, minimum role or None, whether it writes).

    The name keeps every member distinct; Enum would otherwise alias equal rules together.
    """

    READ_ORG = ("read_org", Role.READ, False)
    LIST_MEMBERS = ("list_members", Role.READ, False)
    UPDATE_ORG = ("update_org", Role.ADMIN, True)
    # Changing only the security policies: left open to admins who do not comply themselves, so that
    # an organization can never lock out all of its admins (access.check_compliance).
    UPDATE_SECURITY_POLICY = ("update_security_policy", Role.ADMIN, True)
    READ_SECURITY = ("read_security", Role.ADMIN, False)
    COMPLY = ("comply", Role.READ, False)  # the pages that help a member meet the policies
    DELETE_ORG = ("delete_org", Role.ADMIN, True)
    MANAGE_MEMBERS = ("manage_members", Role.ADMIN, True)  # invite, change roles, remove, cancel invitations
    MANAGE_SUPER_ADMINS = ("manage_super_admins", Role.SUPER_ADMIN, True)  # grant, change or remove one
    READ_AUDIT = ("read_audit", Role.ADMIN, False)
    LEAVE = ("leave", Role.READ, True)
    READ_WEBHOOKS = ("read_webhooks", Role.ADMIN, False)  # webhooks and their deliveries
    MANAGE_WEBHOOKS = ("manage_webhooks", Role.ADMIN, True)  # create, change, delete, test, retry
    # Single sign-on (the sso app): connections and verified domains decide who gets in, so super_admins only.
    MANAGE_SSO = ("manage_sso", Role.SUPER_ADMIN, True)
    CREATE_ORG = ("create_org", None, True)  # no organization involved yet
    MANAGE_API_KEYS = ("manage_api_keys", None, True)

    def __init__(self, _name: str, min_role: str | None, writes: bool) -> None:
        self.min_role = min_role
        self.writes = writes


@dataclass(frozen=True)
class Principal:
    """Who is asking: a browser user (api_key None) or a user through one of their keys."""

    user: User
    api_key: ApiKey | None = None

    @property
    def mode(self) -> str:
        return self.api_key.mode if self.api_key else KeyMode.ALL


def check_key_mode(principal: Principal, action: Action) -> None:
    """Key modes gate methods: read/upload keys only read; only unlimited `all` keys manage keys;
    limited keys create no organizations."""
    key = principal.api_key
    if key is None:
        return
    if action.writes and key.mode in (KeyMode.READ, KeyMode.UPLOAD):
        raise KeyModeForbidden()
    if action is Action.MANAGE_API_KEYS and (key.mode != KeyMode.ALL or key.is_limited):
        raise KeyModeForbidden()
    if action is Action.CREATE_ORG and key.is_limited:
        # A limited key acts only inside its organizations; a new one would be outside them.
        raise KeyModeForbidden()


def check_key_reaches(principal: Principal, org_id: str) -> None:
    """A limited key reaches only its listed organizations; deleted ones leave it reaching nothing."""
    key = principal.api_key
    if key is not None and key.is_limited and org_id not in key.limited_org_ids:
        raise OrgNotFound()


def authorize(principal: Principal, action: Action, role: str | None, org_id: str | None = None) -> None:
    """Raise unless `principal`, holding `role` in the organization, may do `action`.

    `role` is the caller's accepted role there (None: not a member). The order of the checks
    is the order of the answers: key mode (403), visibility (404), then role (403).
    """
    check_key_mode(principal, action)
    if action.min_role is None:
        return
    if role is None:
        raise OrgNotFound()
    if org_id is not None:
        check_key_reaches(principal, org_id)
    if not at_least(role, action.min_role):
        raise InsufficientRole(_("Super admin role required") if action.min_role == Role.SUPER_ADMIN else None)


def authorize_member_change(
    principal: Principal,
    role: str | None,
    *,
    target_role: str | None,
    new_role: str | None = None,
    is_self: bool = False,
) -> None:
    """May the caller set a member's role to `new_role` (None: remove) given their `target_role`?

    Anyone may leave; admins manage members; only a super_admin grants, changes or removes
    a super_admin.
    """
    if is_self and new_role is None:
        authorize(principal, Action.LEAVE, role)
        return
    authorize(principal, Action.MANAGE_MEMBERS, role)
    if Role.SUPER_ADMIN in (target_role, new_role):
        authorize(principal, Action.MANAGE_SUPER_ADMINS, role)


def can(principal: Principal, action: Action, role: str | None) -> bool:
    """The yes/no form of `authorize`, for pages deciding which buttons to show."""
    try:
        authorize(principal, action, role)
    except (InsufficientRole, KeyModeForbidden, OrgNotFound):
        return False
    return True


def can_change_member(
    principal: Principal,
    role: str | None,
    *,
    target_role: str | None,
    new_role: str | None = None,
    is_self: bool = False,
) -> bool:
    """The yes/no form of `authorize_member_change`."""
    try:
        authorize_member_change(principal, role, target_role=target_role, new_role=new_role, is_self=is_self)
    except (InsufficientRole, KeyModeForbidden, OrgNotFound):
        return False
    return True
