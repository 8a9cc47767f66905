"""The Webhooks tab of an organization (admin and up). Thin: forms parse, services apply the rules."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from django.contrib import messages
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from organizations.access import org_for
from organizations.exceptions import ServiceError
from organizations.models import Organization
from organizations.roles import Action, Principal, can
from organizations.views import _org_context, page
from webhooks import services
from webhooks.forms import WebhookForm
from webhooks.models import Delivery, Webhook

DELIVERIES_PER_PAGE = 50


def _context(principal: Principal, org: Organization, role: str, **extra: Any) -> dict[str, Any]:
    return _org_context(principal, org, role, can_manage_webhooks=can(principal, Action.MANAGE_WEBHOOKS, role), **extra)


def _secret_page(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    response = render(request, "webhooks/secret.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _form_error(form: WebhookForm, exc: ServiceError) -> None:
    if exc.status != 400:
        raise exc
    form.add_error("events" if exc.code == "invalid_events" else "url", str(exc.message))


def _list_page(
    request: HttpRequest, principal: Principal, org: Organization, role: str, form: WebhookForm | None = None
) -> HttpResponse:
    since = timezone.now() - timedelta(hours=24)
    recent = Q(deliveries__created_at__gte=since)
    webhooks = Webhook.objects.filter(organization=org).annotate(
        success_24h=Count("deliveries", filter=recent & Q(deliveries__status=Delivery.Status.SUCCESS)),
        failed_24h=Count("deliveries", filter=recent & Q(deliveries__status=Delivery.Status.FAILED)),
    )
    context = _context(principal, org, role, webhooks=webhooks, form=form or WebhookForm())
    return render(request, "webhooks/list.html", context, status=400 if form is not None else 200)


@page
def webhook_list(request: HttpRequest, org_id: str) -> HttpResponse:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.READ_WEBHOOKS)
    return _list_page(request, principal, org, role)


@page
@require_POST
def webhook_create(request: HttpRequest, org_id: str) -> HttpResponse:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, Action.MANAGE_WEBHOOKS)
    form = WebhookForm(request.POST)
    if form.is_valid():
        try:
            webhook, secret = services.webhook_create(actor=principal, org=org, **form.cleaned_data)
        except ServiceError as exc:
            _form_error(form, exc)
        else:
            return _secret_page(request, _context(principal, org, role, webhook=webhook, secret=secret, rotated=False))
    return _list_page(request, principal, org, role, form)


def _webhook(request: HttpRequest, org_id: str, webhook_id: UUID, action: Action) -> tuple[Any, ...]:
    principal = Principal(request.user)
    org, role = org_for(principal, org_id, action)
    return principal, org, role, services.webhook_for(org, webhook_id)


@page
def webhook_detail(request: HttpRequest, org_id: str, webhook_id: UUID) -> HttpResponse:
    principal, org, role, webhook = _webhook(
        request, org_id, webhook_id, Action.MANAGE_WEBHOOKS if request.method == "POST" else Action.READ_WEBHOOKS
    )
    form = WebhookForm(request.POST or None, initial=WebhookForm.initial_for(webhook))
    if request.method == "POST" and form.is_valid():
        try:
            services.webhook_update(actor=principal, org=org, webhook=webhook, changes=dict(form.cleaned_data))
        except ServiceError as exc:
            _form_error(form, exc)
        else:
            messages.success(request, _("The webhook was saved."))
            return redirect("webhook-detail", org_id=org.id, webhook_id=webhook.pk)
    status = request.GET.get("status", "")
    deliveries = Delivery.objects.filter(webhook=webhook)
    if status in Delivery.Status.values:
        deliveries = deliveries.filter(status=status)
    try:
        page_number = max(0, int(request.GET.get("page", 0)))
    except ValueError:
        page_number = 0
    start = page_number * DELIVERIES_PER_PAGE
    rows = list(deliveries[start : start + DELIVERIES_PER_PAGE + 1])
    context = _context(
        principal, org, role, webhook=webhook, form=form, stats=services.stats_24h(webhook),
        deliveries=rows[:DELIVERIES_PER_PAGE], status=status, statuses=Delivery.Status.choices,
        page_number=page_number, has_next=len(rows) > DELIVERIES_PER_PAGE,
    )  # fmt: skip
    return render(request, "webhooks/detail.html", context, status=400 if form.errors else 200)


@page
@require_POST
def webhook_toggle(request: HttpRequest, org_id: str, webhook_id: UUID) -> HttpResponse:
    principal, org, _role, webhook = _webhook(request, org_id, webhook_id, Action.MANAGE_WEBHOOKS)
    webhook, _secret = services.webhook_update(
        actor=principal, org=org, webhook=webhook, changes={"enabled": not webhook.enabled}
    )
    messages.success(request, _("The webhook is enabled.") if webhook.enabled else _("The webhook is disabled."))
    return redirect("webhook-detail", org_id=org.id, webhook_id=webhook.pk)


@page
@require_POST
def webhook_test(request: HttpRequest, org_id: str, webhook_id: UUID) -> HttpResponse:
    principal, org, _role, webhook = _webhook(request, org_id, webhook_id, Action.MANAGE_WEBHOOKS)
    _ping, result = services.webhook_test(actor=principal, org=org, webhook=webhook)
    if result.ok:
        messages.success(request, _("The test was delivered: HTTP %(status)s.") % {"status": result.status})
    elif result.status is not None:
        messages.error(request, _("The receiver answered HTTP %(status)s.") % {"status": result.status})
    else:
        messages.error(request, _("The test was not delivered: %(error)s") % {"error": result.preview})
    return redirect("webhook-detail", org_id=org.id, webhook_id=webhook.pk)


@page
def webhook_rotate(request: HttpRequest, org_id: str, webhook_id: UUID) -> HttpResponse:
    principal, org, role, webhook = _webhook(request, org_id, webhook_id, Action.MANAGE_WEBHOOKS)
    if request.method == "POST":
        webhook, secret = services.webhook_update(actor=principal, org=org, webhook=webhook, changes={},
                                                  rotate_secret=True)  # fmt: skip
        return _secret_page(request, _context(principal, org, role, webhook=webhook, secret=secret, rotated=True))
    return render(request, "webhooks/confirm.html", _context(principal, org, role, webhook=webhook, action="rotate"))


@page
def webhook_delete(request: HttpRequest, org_id: str, webhook_id: UUID) -> HttpResponse:
    principal, org, role, webhook = _webhook(request, org_id, webhook_id, Action.MANAGE_WEBHOOKS)
    if request.method == "POST":
        services.webhook_delete(actor=principal, org=org, webhook=webhook)
        messages.success(request, _("The webhook %(name)s was deleted.") % {"name": webhook.name})
        return redirect("webhook-list", org_id=org.id)
    return render(request, "webhooks/confirm.html", _context(principal, org, role, webhook=webhook, action="delete"))


@page
@require_POST
def delivery_retry(request: HttpRequest, org_id: str, webhook_id: UUID, delivery_id: UUID) -> HttpResponse:
    principal, org, _role, webhook = _webhook(request, org_id, webhook_id, Action.MANAGE_WEBHOOKS)
    delivery = services.delivery_for(org, delivery_id)
    try:
        services.delivery_retry(actor=principal, org=org, delivery=delivery)
    except ServiceError as exc:
        if exc.status != 409:
            raise
        messages.error(request, str(exc.message))
    else:
        messages.success(request, _("The delivery was queued again."))
    return redirect("webhook-detail", org_id=org.id, webhook_id=webhook.pk)
