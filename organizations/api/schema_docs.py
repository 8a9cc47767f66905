"""OpenAPI descriptions of the endpoints: parameters, bodies, responses and examples."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import (
    OpenApiAuthenticationExtension,
    OpenApiSerializerExtension,
    OpenApiSerializerFieldExtension,
)
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from organizations.api import serializers as s
from organizations.roles import INVITE_PREFIX, ROLE_ORDER

ORG_EXAMPLE = {
    "id": "org_3f1c9a2b7d4e4f0a9b8c7d6e5f4a3b2c",
    "created_by": "6aa76066-55ef-4238-ade6-0b32334a4097",
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-01-01T00:00:00Z",
    "logo": "https://example.com/logo.png",
    "name": "My Organization",
    "management_email": "admin@example.com",
    "customer_id": None,
    "website": "https://example.com/",
    "require_apikey_expiration": False,
    "max_apikey_expiration_days": None,
    "enforcing_2fa": False,
    "password_policy_config": None,
}
MEMBER_EXAMPLE = {
    "uid": "6aa76066-55ef-4238-ade6-0b32334a4097",
    "email": "member@example.com",
    "image_url": None,
    "role": "invite_write",
    "is_tmp": True,
}
APIKEY_EXAMPLE = {
    "id": 1,
    "name": "CI",
    "mode": "all",
    "key": "capgo_ab12cd34_3Xv…",
    "key_preview": "capgo_ab12cd34…",
    "limited_to_orgs": [],
    "expires_at": None,
    "created_at": "2024-01-01T00:00:00Z",
    "updated_at": "2024-01-01T00:00:00Z",
    "last_used_at": None,
    "user_id": "6aa76066-55ef-4238-ade6-0b32334a4097",
}


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "organizations.authentication.ApiKeyAuthentication"
    name = "apikey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "authorization",
            "description": "An API key, raw or as `Bearer <key>` (also accepted in `capgkey` or `x-api-key`).",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "organizations.authentication.CsrfSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}


def _errors(*codes: int) -> dict[int, OpenApiResponse]:
    return {code: OpenApiResponse(s.ErrorOut, description="Error envelope") for code in (*codes, 401, 429)}


class StrictSerializerScheme(OpenApiSerializerExtension):
    """Request bodies refuse undeclared fields (StrictSerializer), and say so: additionalProperties false."""

    target_class = "organizations.api.serializers.StrictSerializer"
    match_subclasses = True

    # What the serializers check beyond their fields.
    EXTRA: dict[str, dict[str, Any]] = {
        # `role`, or its alias `invite_type`, is required.
        "MemberInviteIn": {"anyOf": [{"required": ["role"]}, {"required": ["invite_type"]}]},
        # Something to change: not empty, and not only `regenerate: false`.
        "ApiKeyUpdateIn": {
            "minProperties": 1,
            "not": {"required": ["regenerate"], "maxProperties": 1, "properties": {"regenerate": {"enum": [False]}}},
        },
    }

    def map_serializer(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        schema = auto_schema._map_serializer(self.target, direction, bypass_extensions=True)
        if direction == "request":
            schema["additionalProperties"] = False
            schema.update(self.EXTRA.get(type(self.target).__name__, {}))
        return schema


class RoleFieldScheme(OpenApiSerializerFieldExtension):
    """A role, also spelled `invite_<role>`."""

    target_class = "organizations.api.serializers.RoleField"

    def map_serializer_field(self, auto_schema: Any, direction: str) -> dict[str, Any]:
        # A pattern, not an enum: `role` and `invite_type` would otherwise make two named enums of one set.
        return {"type": "string", "pattern": f"^({INVITE_PREFIX})?({'|'.join(ROLE_ORDER)})$"}


def _json(serializer: type[serializers.Serializer]) -> dict[str, type[serializers.Serializer]]:
    """A JSON request body (the parser reads every body as JSON; JSON is the only documented type)."""
    return {"application/json": serializer}


def _q(
    name: str, type_: type | dict[str, Any] = str, required: bool = False, description: str = ""
) -> OpenApiParameter:
    return OpenApiParameter(name, type_, OpenApiParameter.QUERY, required=required, description=description)


ORG_ID_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 40}
ORG_ID = _q("orgId", ORG_ID_SCHEMA, required=True, description="Organization id (`org_…`)")
PAGE = [
    _q("page", {"type": "integer", "minimum": 0, "maximum": 1_000_000}, description="0-based page"),
    _q("limit", {"type": "integer", "minimum": 1}, description="Page size; more than 100 is clamped to 100"),
]
EMAIL = _q("email", {"type": "string", "format": "email", "maxLength": 254}, required=True)

org_get = {
    "summary": "List my organizations, or get one with orgId",
    "parameters": [
        _q("orgId", {"type": "string", "maxLength": 40}, description="Organization id; without it, the list"),
        *PAGE,
    ],
    "responses": {
        200: inline_serializer(
            "OrganizationGetResponse",
            {
                "data": serializers.JSONField(help_text="An Organization, or a list of them without orgId"),
                "page": serializers.IntegerField(required=False),
                "limit": serializers.IntegerField(required=False),
                "total": serializers.IntegerField(required=False),
            },
        ),
        **_errors(400, 403, 404),
    },
    "examples": [
        OpenApiExample("One organization", value={"data": ORG_EXAMPLE}, response_only=True),
        OpenApiExample("List", value={"data": [ORG_EXAMPLE], "page": 0, "limit": 50, "total": 1}, response_only=True),
    ],
}
org_post = {
    "summary": "Create an organization (the caller becomes super_admin)",
    "request": _json(s.OrganizationCreateIn),
    "responses": {
        201: inline_serializer(
            "OrganizationCreated", {"status": serializers.CharField(), "id": serializers.CharField()}
        ),
        **_errors(400, 403),
    },
    "examples": [
        OpenApiExample(
            "Create", value={"name": "My Organization", "website": "https://example.com"}, request_only=True
        ),
        OpenApiExample(
            "Created", value={"status": "Organization created", "id": ORG_EXAMPLE["id"]}, response_only=True
        ),
    ],
}
org_put = {
    "summary": "Update an organization (admin or higher)",
    "request": _json(s.OrganizationUpdateIn),
    "responses": {
        200: inline_serializer("OrganizationUpdated", {"status": serializers.CharField(), "data": s.OrganizationOut()}),
        **_errors(400, 403, 404),
    },
    "examples": [
        OpenApiExample("Rename", value={"orgId": ORG_EXAMPLE["id"], "name": "New name"}, request_only=True),
        OpenApiExample(
            "Require 2FA and a password policy",
            value={
                "orgId": ORG_EXAMPLE["id"],
                "enforcing_2fa": True,
                "password_policy_config": {
                    "enabled": True,
                    "min_length": 12,
                    "require_uppercase": True,
                    "require_number": True,
                    "require_special": False,
                },
            },
            request_only=True,
        ),  # fmt: skip
        OpenApiExample("Updated", value={"status": "Organization updated", "data": ORG_EXAMPLE}, response_only=True),
    ],
}
org_delete = {
    "summary": "Delete an organization (admin or higher)",
    "parameters": [ORG_ID],
    "responses": {
        200: inline_serializer(
            "OrganizationDeleted", {"status": serializers.CharField(), "id": serializers.CharField()}
        ),
        **_errors(400, 403, 404),
    },
    "examples": [
        OpenApiExample("Deleted", value={"status": "Organization deleted", "id": ORG_EXAMPLE["id"]}, response_only=True)
    ],
}
members_get = {
    "summary": "List members and pending invitations",
    "parameters": [ORG_ID],
    "responses": {
        200: inline_serializer("MemberList", {"data": s.MemberOut(many=True)}),
        **_errors(400, 403, 404),
    },
    "examples": [OpenApiExample("Members", value={"data": [MEMBER_EXAMPLE]}, response_only=True)],
}
members_post = {
    "summary": "Invite a member by email, or change an existing member's role",
    "request": _json(s.MemberInviteIn),
    "responses": {
        200: inline_serializer("MemberInvited", {"status": serializers.CharField(), "data": s.MemberOut()}),
        **_errors(400, 403, 404, 409),
    },
    "examples": [
        OpenApiExample(
            "Invite",
            value={"orgId": ORG_EXAMPLE["id"], "email": "member@example.com", "role": "write"},
            request_only=True,
        ),
        OpenApiExample("Invited", value={"status": "OK", "data": MEMBER_EXAMPLE}, response_only=True),
    ],
}
members_delete = {
    "summary": "Remove a member, cancel an invitation, or leave",
    "parameters": [ORG_ID, EMAIL],
    "responses": {
        200: inline_serializer("MemberRemoved", {"status": serializers.CharField()}),
        **_errors(400, 403, 404, 409),
    },
    "examples": [OpenApiExample("Removed", value={"status": "OK"}, response_only=True)],
}
members_accept = {
    "summary": "Accept my pending invitation to an organization",
    "request": _json(s.OrgIdIn),
    "responses": {
        200: inline_serializer("InvitationAccepted", {"status": serializers.CharField(), "data": s.MemberOut()}),
        **_errors(400, 403, 404),
    },
}
security_get = {
    "summary": "Who complies with the organization's security policies (admin or higher)",
    "description": "Each accepted member, whether they have two-factor authentication, and whether their "
    "password was checked against the current password policy (null while none is enabled). Members who do "
    "not comply get 403 `org_requires_2fa` or `org_requires_password_policy` on every call that names the "
    "organization, except leaving it and an admin's change of the two policy fields.",
    "parameters": [ORG_ID],
    "responses": {200: s.SecurityOut, **_errors(400, 403, 404)},
    "examples": [
        OpenApiExample(
            "Report",
            value={
                "data": [
                    {
                        "uid": MEMBER_EXAMPLE["uid"], "email": "member@example.com", "role": "write",
                        "2fa_enabled": False, "password_policy_compliant": None,
                    }
                ],
                "enforcing_2fa": True,
                "password_policy_config": None,
            },
            response_only=True,
        )
    ],
}  # fmt: skip
audit_get = {
    "summary": "Read the audit log (admin or higher)",
    "parameters": [
        ORG_ID,
        _q("tableName", {"type": "string", "enum": ["orgs", "org_users", "apikeys", "webhooks"]}),
        _q("operation", {"type": "string", "enum": ["INSERT", "UPDATE", "DELETE"]}),
        *PAGE,
    ],
    "responses": {
        200: inline_serializer(
            "AuditList",
            {
                "data": s.AuditEventOut(many=True),
                "total": serializers.IntegerField(),
                "page": serializers.IntegerField(),
                "limit": serializers.IntegerField(),
            },
        ),
        **_errors(400, 403, 404),
    },
}
apikey_list = {
    "summary": "List my API keys",
    "responses": {200: inline_serializer("ApiKeyList", {"data": s.ApiKeyOut(many=True)}), **_errors(403)},
}
apikey_create = {
    "summary": "Create an API key (the plaintext is in this response only)",
    "request": _json(s.ApiKeyCreateIn),
    "responses": {201: inline_serializer("ApiKeyCreated", {"apikey": s.ApiKeyOut()}), **_errors(400, 403, 404, 409)},
    "examples": [
        OpenApiExample("Create", value={"name": "CI", "mode": "write"}, request_only=True),
        OpenApiExample("Created", value={"apikey": APIKEY_EXAMPLE}, response_only=True),
    ],
}
apikey_get = {
    "summary": "Get one of my API keys",
    "responses": {200: inline_serializer("ApiKeyDetail", {"data": s.ApiKeyOut()}), **_errors(403, 404)},
}
apikey_put = {
    "summary": "Update or regenerate one of my API keys",
    "request": _json(s.ApiKeyUpdateIn),
    "responses": {200: inline_serializer("ApiKeyUpdated", {"apikey": s.ApiKeyOut()}), **_errors(400, 403, 404)},
}
apikey_delete = {
    "summary": "Delete one of my API keys",
    "responses": {
        200: inline_serializer("ApiKeyDeleted", {"success": serializers.BooleanField()}),
        **_errors(403, 404),
    },
}
