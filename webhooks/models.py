"""Webhooks of an organization, and the deliveries of its events to them (the outbox)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from organizations.models import AuditEvent, Organization
from organizations.text import isolate


class Webhook(models.Model):
    """An integration's URL that receives the organization's events, signed with `secret`.

    When its organization is deleted the webhook stays, detached (organization null), until it
    has delivered that organization's last events; the cleanup task then removes it.
    """

    # The audit tables a webhook may subscribe to (its own changes, `webhooks`, are not sent).
    EVENT_TABLES: tuple[str, ...] = (AuditEvent.Table.ORGS, AuditEvent.Table.ORG_USERS, AuditEvent.Table.APIKEYS)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(
        Organization,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="webhooks",
        verbose_name=_("organization"),
    )
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=2000)
    events = models.JSONField(_("events"), default=list)
    enabled = models.BooleanField(_("enabled"), default=True)
    disabled_reason = models.CharField(_("disabled reason"), max_length=500, blank=True)
    # Standard Webhooks secrets: "whsec_" + base64 of 32 random bytes. Never shown after creation.
    secret = models.CharField(max_length=100, editable=False)
    # After a rotation the old secret signs too (a second signature) until previous_secret_expires_at.
    previous_secret = models.CharField(max_length=100, blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["-created_at", "-id"]
        indexes = [
            # "This organization's enabled webhooks": asked in the transaction of every audit event.
            models.Index(fields=["organization"], condition=Q(enabled=True), name="webhook_org_enabled_idx"),
        ]

    def __str__(self) -> str:
        return isolate(self.name)

    def snapshot(self) -> dict[str, Any]:
        """What the audit log keeps of a webhook: everything but its secrets."""
        return {
            "id": str(self.pk),
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "enabled": self.enabled,
            "disabled_reason": self.disabled_reason,
            "created_by": str(self.created_by_id) if self.created_by_id else None,
        }

    def signing_secrets(self, now: datetime | None = None) -> list[str]:
        """The current secret, then the previous one while its grace period lasts."""
        now = now or timezone.now()
        if self.previous_secret and self.previous_secret_expires_at and self.previous_secret_expires_at > now:
            return [self.secret, self.previous_secret]
        return [self.secret]


class Delivery(models.Model):
    """One event for one webhook: written in the event's transaction, sent and retried by tasks."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCESS = "success", _("Success")
        FAILED = "failed", _("Failed")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("webhook"))
    # The audit event it carries (a plain value: events outlive everything); null for test pings.
    audit_event_id = models.BigIntegerField(_("audit event ID"), null=True, blank=True)
    event_type = models.CharField(_("event"), max_length=40)
    # Shared by the deliveries of one event and stable across retries: the `webhook-id` header.
    event_id = models.CharField(_("event ID"), max_length=64)
    payload = models.JSONField(_("payload"))
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.PENDING)
    attempt_count = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_retry_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    # A worker holds the delivery until then; past it another may take it (its worker died).
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True, blank=True)
    response_preview = models.TextField(_("response"), blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["webhook", "-created_at", "-id"], name="delivery_webhook_idx"),
            # The sweep: pending deliveries by due time.
            models.Index(fields=["next_retry_at"], condition=Q(status="pending"), name="delivery_due_idx"),
            models.Index(fields=["created_at"], name="delivery_created_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.webhook_id} ({self.status})"
