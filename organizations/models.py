"""The domain: users, organizations, memberships, invitations, API keys and the audit log."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from functools import cached_property
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from organizations import api_keys
from organizations.roles import INVITE_PREFIX, KeyMode, Role
from organizations.text import isolate


def new_org_id() -> str:
    return f"org_{uuid.uuid4().hex}"


def logo_upload_to(instance: Organization, filename: str) -> str:
    # Never a user-chosen name: the path is the organization id plus a random part.
    return f"logos/{instance.id}/{secrets.token_hex(8)}.{filename.rsplit('.', 1)[-1].lower()}"


def avatar_upload_to(instance: User, filename: str) -> str:
    return f"avatars/{instance.id}/{secrets.token_hex(8)}.{filename.rsplit('.', 1)[-1].lower()}"


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Logs in with their email address; ids are opaque UUIDs."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(_("email address"), unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    avatar = models.ImageField(_("avatar"), upload_to=avatar_upload_to, blank=True)
    language = models.CharField(_("language"), max_length=8, blank=True)
    is_staff = models.BooleanField(_("staff status"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)


class Organization(models.Model):
    id = models.CharField(primary_key=True, max_length=40, default=new_org_id, editable=False)
    name = models.CharField(_("name"), max_length=100)
    management_email = models.EmailField(_("management email"))
    website = models.URLField(_("website"), max_length=2000, blank=True, null=True)
    # An uploaded logo (logo_file) wins over an https URL set through the API (logo_url).
    logo_file = models.ImageField(_("logo"), upload_to=logo_upload_to, blank=True)
    logo_url = models.URLField(_("logo URL"), max_length=2000, blank=True, null=True)
    customer_id = models.CharField(_("customer ID"), max_length=100, blank=True, null=True, editable=False)
    require_apikey_expiration = models.BooleanField(_("require API key expiration"), default=False)
    max_apikey_expiration_days = models.PositiveSmallIntegerField(
        _("maximum API key lifetime (days)"), blank=True, null=True
    )
    # Security policies (organizations.security): members without a second factor, or whose password
    # was not checked against the current policy, are refused everything in the organization but
    # the few things access.py leaves open.
    enforcing_2fa = models.BooleanField(_("require two-factor authentication"), default=False)
    password_policy_config = models.JSONField(_("password policy"), blank=True, null=True)
    created_by = models.ForeignKey(
        "User",
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
        db_index=False,
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("organization")
        verbose_name_plural = _("organizations")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["created_at", "id"], name="org_created_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_apikey_expiration_days__isnull=True)
                | Q(max_apikey_expiration_days__gte=1, max_apikey_expiration_days__lte=365),
                name="org_max_apikey_days_range",
            ),
        ]

    def __str__(self) -> str:
        # The admin puts this into its own sentences and titles: a right-to-left name stays in its run.
        return isolate(self.name)


class Membership(models.Model):
    """An accepted member of an organization. Pending people are Invitations."""

    Role = Role

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("user"))
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("organization")
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    # The fingerprint of the organization's password policy that this member's password last met
    # (security.policy_fingerprint); never the password. Empty: not checked, or it did not meet it.
    password_policy_fingerprint = models.CharField(max_length=64, blank=True, default="", editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_one_per_user_org"),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="membership_role_valid"),
        ]
        # (organization, user) is covered by the unique constraint, in that order for member lists.
        indexes = [
            models.Index(fields=["organization", "role"], name="membership_org_role_idx"),
            # Covering (PostgreSQL): "the caller's role here" and "the caller's organizations",
            # asked on nearly every request, are answered from the index alone.
            models.Index(
                fields=["user", "organization"],
                include=["role", "password_policy_fingerprint"],
                name="membership_user_org_idx",
            ),
        ]

    def __str__(self) -> str:
        # Ids only: the admin names every membership an organization's deletion takes, one query would be per row.
        return _("%(user)s in %(organization)s as %(role)s") % {
            "user": self.user_id,
            "organization": self.organization_id,
            "role": self.get_role_display(),
        }


class Invitation(models.Model):
    """A pending (or finished) invitation of an email address to join with a role."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        ACCEPTED = "accepted", _("Accepted")
        CANCELLED = "cancelled", _("Cancelled")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("organization")
    )
    email = models.EmailField(_("email"))
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    # The link carries a random token; only its hash is stored.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    invited_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, related_name="+", verbose_name=_("invited by")
    )
    expires_at = models.DateTimeField(_("expires at"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "email"],
                condition=Q(status="pending"),
                name="invitation_one_pending_per_email",
            ),
            models.CheckConstraint(condition=Q(role__in=Role.values), name="invitation_role_valid"),
        ]
        indexes = [models.Index(fields=["organization", "status", "expires_at"], name="invitation_org_idx")]

    def __str__(self) -> str:
        return _("%(email)s to %(organization)s (%(status)s)") % {
            "email": self.email,
            "organization": self.organization_id,
            "status": self.get_status_display(),
        }

    @property
    def display_role(self) -> str:
        return INVITE_PREFIX + self.role

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or timezone.now())


class ApiKey(models.Model):
    """A user's key for the API. Only the SHA-256 of the secret is stored."""

    Mode = KeyMode

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys", verbose_name=_("user"))
    name = models.CharField(_("name"), max_length=100)
    mode = models.CharField(_("mode"), max_length=10, choices=KeyMode.choices, default=KeyMode.ALL)
    lookup = models.CharField(max_length=16, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False)
    # is_limited stays true when every listed organization is deleted: such a key reaches nothing.
    is_limited = models.BooleanField(_("limited to organizations"), default=False, editable=False)
    limited_to_orgs = models.ManyToManyField(
        Organization, through="ApiKeyOrgLimit", related_name="limited_api_keys", blank=True
    )
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(mode__in=KeyMode.values), name="apikey_mode_valid"),
        ]
        indexes = [models.Index(fields=["user", "created_at"], name="apikey_user_idx")]

    def __str__(self) -> str:
        return f"{isolate(self.name)} ({self.key_preview})"

    @property
    def key_preview(self) -> str:
        return api_keys.preview(self.lookup)

    @cached_property
    def limited_org_ids(self) -> frozenset[str]:
        if not self.is_limited:
            return frozenset()
        return frozenset(self.org_limits.values_list("organization_id", flat=True))

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())


class ApiKeyOrgLimit(models.Model):
    api_key = models.ForeignKey(ApiKey, on_delete=models.CASCADE, related_name="org_limits")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_key", "organization"], name="apikey_org_limit_unique")]


class AuditEvent(models.Model):
    """One change to an organization, membership, invitation or API key. Append-only.

    Holds plain values, not foreign keys, so it outlives what it describes.
    """

    # The values are the API's; the labels are what the admin and the pages show.
    class Table(models.TextChoices):
        ORGS = "orgs", _("Organizations")
        ORG_USERS = "org_users", _("Members and invitations")
        APIKEYS = "apikeys", _("API keys")
        WEBHOOKS = "webhooks", _("Webhooks")
        SSO = "sso", _("Single sign-on")  # connections and domains (the sso app)

    class Operation(models.TextChoices):
        INSERT = "INSERT", _("Created")
        UPDATE = "UPDATE", _("Changed")
        DELETE = "DELETE", _("Deleted")

    class ActorType(models.TextChoices):
        USER = "user", _("Person")
        APIKEY = "apikey", _("API key")
        SYSTEM = "system", _("System")

    created_at = models.DateTimeField(_("time"), default=timezone.now, editable=False)
    org_id = models.CharField(_("organization ID"), max_length=40, null=True, blank=True)
    table_name = models.CharField(_("kind of record"), max_length=20, choices=Table.choices)
    record_id = models.CharField(_("record ID"), max_length=64)
    operation = models.CharField(_("change"), max_length=10, choices=Operation.choices)
    old_record = models.JSONField(_("before"), null=True, blank=True)
    new_record = models.JSONField(_("after"), null=True, blank=True)
    changed_fields = models.JSONField(_("changed fields"), null=True, blank=True)
    actor_type = models.CharField(_("made by"), max_length=10, choices=ActorType.choices)
    actor_user_id = models.CharField(_("person's ID"), max_length=64, null=True, blank=True)
    actor_user_email = models.CharField(_("person's email"), max_length=254, null=True, blank=True)
    actor_apikey_id = models.BigIntegerField(_("API key ID"), null=True, blank=True)
    actor_apikey_name = models.CharField(_("API key name"), max_length=100, null=True, blank=True)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["org_id", "-created_at", "-id"], name="audit_org_created_idx"),
            models.Index(fields=["org_id", "table_name", "operation", "-created_at"], name="audit_org_filter_idx"),
        ]

    def __str__(self) -> str:
        # The admin's title of an event: in the viewer's words (the values are the API's).
        return f"{self.get_operation_display()} · {self.get_table_name_display()} · {self.record_id}"


# Shared counters and cache without Redis --------------------------------------------------


class RateLimitCounter(models.Model):
    """One fixed-window counter of the API's rate limits without Redis on PostgreSQL (organizations/ratelimit.py).

    Every server process counts in this table; one statement adds to a counter and reads it
    back (an upsert), so two workers can never both take the last request of a window.
    """

    name = models.CharField(max_length=200, primary_key=True)
    hits = models.PositiveIntegerField()
    expires_at = models.BigIntegerField(db_index=True)  # Unix seconds: the window's end, and then some

    def __str__(self) -> str:
        return f"{self.name}: {self.hits}"


class CacheEntry(models.Model):
    """Django's database cache table (`django_cache`), the default cache when there is no Redis.

    A model rather than `createcachetable`, so that every migrated database has it, whatever
    CACHES said when it was migrated (test databases included). Its columns are the ones
    createcachetable would make; only Django's DatabaseCache reads and writes it.
    """

    cache_key = models.CharField(max_length=255, primary_key=True)
    value = models.TextField()
    expires = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "django_cache"

    def __str__(self) -> str:
        return self.cache_key


class Email(models.Model):
    """An outgoing email, written with the change that caused it and sent by a task (organizations.emails).

    The body (and the context of one the worker renders) is erased once sent: an invitation or a
    password reset carries a secret link.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    from_email = models.CharField(_("from"), max_length=320)
    to = models.JSONField(_("to"), default=list)
    cc = models.JSONField(_("cc"), default=list, blank=True)
    bcc = models.JSONField(_("bcc"), default=list, blank=True)
    reply_to = models.JSONField(_("reply to"), default=list, blank=True)
    headers = models.JSONField(_("headers"), default=dict, blank=True)
    subject = models.TextField(_("subject"))
    body = models.TextField(_("body"), blank=True)
    html = models.TextField(_("HTML body"), blank=True)
    # A message the worker renders (organizations.emails.TEMPLATES): which one, and what it is
    # rendered from. Erased with the body once sent.
    template = models.CharField(max_length=50, blank=True, editable=False)
    context = models.JSONField(default=dict, blank=True, editable=False)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), default=timezone.now)
    # A worker holds the row until then; past it, another may take the email (its worker died).
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("email")
        verbose_name_plural = _("emails")
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="email_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.subject} → {', '.join(self.to)}"
