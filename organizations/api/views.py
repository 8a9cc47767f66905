"""The JSON API as DRF ViewSets, one per resource (organizations/api/urls.py routes them).

Each action parses input, asks `access` for the organization, calls a service and shapes the
output. Organizations, members and the audit log are named by parameters (`orgId` in the query
string or the body), as in Capgo's API, so each of them is one collection URL whose methods map
to list / create / update / destroy; only API keys have a URL per key.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db.models import Prefetch
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.fields import empty
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.viewsets import ViewSet

from organizations import audit, services
from organizations.access import check_expiry_policy, org_for, visible_organizations_page
from organizations.api import schema_docs as docs
from organizations.api.serializers import (
    ApiKeyCreateIn,
    ApiKeyUpdateIn,
    AuditListIn,
    MemberInviteIn,
    MemberRemoveIn,
    OrganizationCreateIn,
    OrganizationListIn,
    OrganizationUpdateIn,
    OrgIdIn,
    api_key_json,
    audit_json,
    member_json,
    organization_json,
    organization_row_json,
    security_member_json,
)
from organizations.exceptions import ApiKeyNotFound, Invalid
from organizations.models import ApiKey, ApiKeyOrgLimit
from organizations.ratelimit import ApiRateThrottle, add_headers
from organizations.roles import Action, Principal, check_key_mode


class EnvelopeSchema(AutoSchema):
    """Every answer of this API is a JSON object (`{"data": [...]}` for lists), never a bare array.

    drf-spectacular would describe the response of a `list` action as an array of the declared one.
    """

    def _is_list_view(self, serializer: Any = None) -> bool:
        return False


class ApiViewSet(ViewSet):
    """Base for every resource: the principal, parameters from the right place, and the rate limits."""

    throttle_classes = [ApiRateThrottle]
    schema = EnvelopeSchema()

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        response = super().finalize_response(request, response, *args, **kwargs)
        # Every authenticated response, success or error, tells the client where it stands.
        add_headers(response, getattr(request, "ratelimit", None))
        return response

    def principal(self, request: Request) -> Principal:
        return Principal(user=request.user, api_key=request.auth if isinstance(request.auth, ApiKey) else None)

    def params(self, request: Request, serializer_class: type[serializers.Serializer]) -> dict[str, Any]:
        """GET and DELETE read the query string (DELETE falls back to a JSON body); others the body."""
        if request.method == "GET" or (request.method == "DELETE" and request.query_params):
            # The query string may carry extras (cache busters, tracking): only a body is strict.
            known = serializer_class._declared_fields  # type: ignore[attr-defined]
            data: Any = {k: v for k, v in request.query_params.items() if k in known}
        else:
            data = request.data
        return self.validated(request, serializer_class, data).validated_data

    def validated(
        self, request: Request, serializer_class: type[serializers.Serializer], data: Any = empty
    ) -> serializers.Serializer:
        """`serializer_class` run on `data` (the body unless given), raising the envelope's 400 if invalid."""
        serializer = _reusable(serializer_class)
        serializer.initial_data = request.data if data is empty else data
        serializer.__dict__.pop("_validated_data", None)
        serializer.__dict__.pop("_errors", None)
        serializer.is_valid(raise_exception=True)
        return serializer


_serializers = threading.local()


def _reusable(serializer_class: type[serializers.Serializer]) -> serializers.Serializer:
    """This thread's instance of `serializer_class`, made once: DRF deep-copies a serializer's declared
    fields into every new instance, which cost more than validating the input. The instance keeps no
    state between requests but the input `validated` gives it (and its results, which it clears)."""
    instances = _serializers.__dict__.setdefault("by_class", {})
    serializer = instances.get(serializer_class)
    if serializer is None:
        serializer = instances[serializer_class] = serializer_class(data={})
    return serializer


# Organizations ---------------------------------------------------------------------------


class OrganizationViewSet(ApiViewSet):
    """/organization/: list mine, or get one with orgId (GET); create (POST); update (PUT); delete (DELETE)."""

    @extend_schema(**docs.org_get)
    def list(self, request: Request) -> Response:
        principal = self.principal(request)
        params = self.params(request, OrganizationListIn)
        if params.get("orgId"):
            org, _role = org_for(principal, params["orgId"], Action.READ_ORG)
            return Response({"data": organization_json(org, request)})
        page, limit = params["page"], params["limit"]
        rows, total = visible_organizations_page(principal, page, limit)
        return Response(
            {"data": [organization_row_json(o, request) for o in rows], "page": page, "limit": limit, "total": total}
        )

    @extend_schema(**docs.org_post)
    def create(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.CREATE_ORG)
        data = self.validated(request, OrganizationCreateIn).validated_data
        org = services.organization_create(
            actor=principal,
            name=data["name"],
            management_email=data.get("management_email"),
            website=data.get("website") or None,
            logo_url=data.get("logo"),
        )
        return Response({"status": "Organization created", "id": org.id}, status=201)

    @extend_schema(**docs.org_put)
    def update(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.UPDATE_ORG)
        serializer = self.validated(request, OrganizationUpdateIn)
        changes = serializer.validated_changes()
        # Only the policy fields: open to an admin who does not comply (access.OPEN_TO_NON_COMPLIANT).
        policy_only = bool(changes) and set(changes) <= services.SECURITY_POLICY_FIELDS
        action = Action.UPDATE_SECURITY_POLICY if policy_only else Action.UPDATE_ORG
        org, _role = org_for(principal, serializer.validated_data["orgId"], action)
        org = services.organization_update(actor=principal, org=org, changes=changes)
        return Response({"status": "Organization updated", "data": organization_json(org, request)})

    @extend_schema(**docs.org_delete)
    def destroy(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.DELETE_ORG)
        params = self.params(request, OrgIdIn)
        org, _role = org_for(principal, params["orgId"], Action.DELETE_ORG)
        services.organization_delete(actor=principal, org=org)
        return Response({"status": "Organization deleted", "id": params["orgId"]})


# Members ---------------------------------------------------------------------------------


class MemberViewSet(ApiViewSet):
    """/organization/members/: list (GET), invite or change a role (POST), remove or leave (DELETE), accept."""

    @extend_schema(**docs.members_get)
    def list(self, request: Request) -> Response:
        params = self.params(request, OrgIdIn)
        org, _role = org_for(self.principal(request), params["orgId"], Action.LIST_MEMBERS)
        return Response({"data": [member_json(row, request) for row in services.member_rows(org)]})

    @extend_schema(**docs.members_post)
    def create(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.MANAGE_MEMBERS)
        data = self.validated(request, MemberInviteIn).validated_data
        org, _role = org_for(principal, data["orgId"], Action.MANAGE_MEMBERS)
        row = services.member_invite(actor=principal, org=org, email=data["email"], role=data["role"])
        return Response({"status": "OK", "data": member_json(row, request)})

    @extend_schema(**docs.members_delete)
    def destroy(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.LEAVE)
        params = self.params(request, MemberRemoveIn)
        # Leaving is open to every member (even one who does not comply with a policy); removing
        # someone else is managing members. The service applies the finer rules.
        leaving = params["email"].strip().lower() == principal.user.email
        org, _role = org_for(principal, params["orgId"], Action.LEAVE if leaving else Action.MANAGE_MEMBERS)
        services.member_remove(actor=principal, org=org, email=params["email"])
        return Response({"status": "OK"})

    @extend_schema(**docs.members_accept)
    @action(detail=False, methods=["post"])
    def accept(self, request: Request) -> Response:
        """/organization/members/accept/: the caller accepts their own pending invitation."""
        principal = self.principal(request)
        check_key_mode(principal, Action.LEAVE)
        data = self.validated(request, OrgIdIn).validated_data
        invitation = services.pending_invitation_for(principal.user, data["orgId"])
        key = principal.api_key
        if (
            invitation is not None
            and key is not None
            and key.is_limited
            and invitation.organization_id not in key.limited_org_ids
        ):
            invitation = None
        if invitation is not None:
            check_expiry_policy(principal, invitation.organization)
        membership = services.invitation_accept(actor=principal, invitation=invitation)
        row = services.MemberRow.of_membership(membership)
        return Response({"status": "OK", "data": member_json(row, request)})


# Security policies -----------------------------------------------------------------------


class SecurityViewSet(ApiViewSet):
    """/organization/security/: who complies with the organization's security policies (GET)."""

    @extend_schema(**docs.security_get)
    def list(self, request: Request) -> Response:
        params = self.params(request, OrgIdIn)
        org, _role = org_for(self.principal(request), params["orgId"], Action.READ_SECURITY)
        return Response(
            {
                "data": [security_member_json(row) for row in services.security_rows(org)],
                "enforcing_2fa": org.enforcing_2fa,
                "password_policy_config": org.password_policy_config,
            }
        )


# Audit log -------------------------------------------------------------------------------


class AuditViewSet(ApiViewSet):
    """/organization/audit/: the organization's events, newest first (GET)."""

    @extend_schema(**docs.audit_get)
    def list(self, request: Request) -> Response:
        params = self.params(request, AuditListIn)
        org, _role = org_for(self.principal(request), params["orgId"], Action.READ_AUDIT)
        page, limit = params["page"], params["limit"]
        events, total = audit.events_page(
            org.id, table_name=params.get("tableName"), operation=params.get("operation"), page=page, limit=limit
        )
        return Response({"data": [audit_json(e) for e in events], "total": total, "page": page, "limit": limit})


# API keys --------------------------------------------------------------------------------


def _keys_of(principal: Principal):  # noqa: ANN202 - a queryset of the caller's live keys
    return (
        ApiKey.objects.filter(user=principal.user, revoked_at__isnull=True)
        .prefetch_related(Prefetch("org_limits", queryset=ApiKeyOrgLimit.objects.order_by("id")))
        .order_by("created_at", "id")
    )


def _limits(key: ApiKey) -> list[str]:
    return [limit.organization_id for limit in key.org_limits.all()]


class ApiKeyViewSet(ApiViewSet):
    """/apikey/: list mine (GET), create (POST); /apikey/<id>/: get (GET), update or regenerate (PUT), delete."""

    lookup_url_kwarg = "key_id"
    lookup_value_regex = "[^/]+"  # any segment: a malformed id is a 404 apikey_not_found, not a 404 page

    # Both /apikey/ and /apikey/{key_id}/ are GETs of one object envelope: name them, or they collide.
    @extend_schema(operation_id="apikey_list", **docs.apikey_list)
    def list(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.MANAGE_API_KEYS)
        return Response({"data": [api_key_json(k, _limits(k)) for k in _keys_of(principal)]})

    @extend_schema(**docs.apikey_create)
    def create(self, request: Request) -> Response:
        principal = self.principal(request)
        check_key_mode(principal, Action.MANAGE_API_KEYS)
        data = self.validated(request, ApiKeyCreateIn).validated_data
        key, plaintext = services.api_key_create(
            actor=principal,
            user=principal.user,
            name=data["name"],
            mode=data["mode"],
            limited_to_orgs=data["limited_to_orgs"],
            expires_at=data.get("expires_at"),
        )
        return Response({"apikey": api_key_json(key, sorted(key.limited_org_ids), plaintext)}, status=201)

    def key(self, request: Request, key_id: str) -> tuple[Principal, ApiKey]:
        """The caller's own live key `key_id`; any other id (another user's too) is 404 apikey_not_found."""
        principal = self.principal(request)
        check_key_mode(principal, Action.MANAGE_API_KEYS)
        # ASCII digits only: str.isdigit() also accepts "²" (int() then fails) and "١٢" (int() reads 12).
        is_id = key_id.isascii() and key_id.isdigit() and len(key_id) < 19
        key = _keys_of(principal).filter(pk=int(key_id)).first() if is_id else None
        if key is None:
            raise ApiKeyNotFound(details={"id": key_id})
        return principal, key

    @extend_schema(**docs.apikey_get)
    def retrieve(self, request: Request, key_id: str) -> Response:
        _principal, key = self.key(request, key_id)
        return Response({"data": api_key_json(key, _limits(key))})

    @extend_schema(**docs.apikey_put)
    def update(self, request: Request, key_id: str) -> Response:
        principal, key = self.key(request, key_id)
        if not request.data:
            raise Invalid("No valid fields provided for update", code="no_valid_fields_provided_for_update")
        data = dict(self.validated(request, ApiKeyUpdateIn).validated_data)
        regenerate = data.pop("regenerate", False)
        if not data and not regenerate:
            raise Invalid("No valid fields provided for update", code="no_valid_fields_provided_for_update")
        key, plaintext = services.api_key_update(actor=principal, key=key, changes=data, regenerate=regenerate)
        key = _keys_of(principal).get(pk=key.pk)
        return Response({"apikey": api_key_json(key, _limits(key), plaintext)})

    @extend_schema(**docs.apikey_delete)
    def destroy(self, request: Request, key_id: str) -> Response:
        principal, key = self.key(request, key_id)
        services.api_key_delete(actor=principal, key=key)
        return Response({"success": True})
