"""Input validation (DRF serializers that refuse unknown fields) and lean output dicts.

Output is built by plain functions: list endpoints serialize many rows per request and
DRF serializers cost several times more per row. The `*Out` serializers describe the same
shapes for the OpenAPI schema; a test checks that the two agree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from rest_framework import serializers
from rest_framework.request import Request

from organizations.access import ORGANIZATION_VALUES
from organizations.models import ApiKey, AuditEvent, Organization
from organizations.roles import ROLE_ORDER, KeyMode, parse_role
from organizations.security import POLICY_FIELDS, policy_errors
from organizations.services import MemberRow, SecurityRow
from organizations.text import validate_name

# Input -----------------------------------------------------------------------------------


# The JSON type each kind of field takes. DRF would also take 5 for "5", "true" for true and
# 1.0 for 1; a JSON API says what it takes and takes only that (as its OpenAPI schema states).
_JSON_TYPES: tuple[tuple[type[serializers.Field], type, str], ...] = (
    (serializers.BooleanField, bool, "a boolean"),
    (serializers.IntegerField, int, "an integer"),
    (serializers.CharField, str, "a string"),
    (serializers.ListField, list, "a list"),
)


def _json_type_error(field: serializers.Field, value: Any) -> str | None:
    if value is None:
        return None
    for field_class, json_type, label in _JSON_TYPES:
        if isinstance(field, field_class):
            ok = isinstance(value, json_type) and not (json_type is int and isinstance(value, bool))
            if ok and isinstance(field, serializers.ListField) and isinstance(field.child, serializers.CharField):
                ok = all(isinstance(item, str) for item in value)
            return None if ok else f"Expected {label}" + (" of strings." if json_type is list else ".")
    return None


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not declare (no silent mass assignment) and values of the wrong JSON type."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [serializers.ErrorDetail("Unknown field.", code="unknown_field")] for name in unknown}
                )
            wrong = {name: _json_type_error(self.fields[name], value) for name, value in data.items()}
            if any(wrong.values()):
                raise serializers.ValidationError(
                    {name: [serializers.ErrorDetail(error, code="invalid")] for name, error in wrong.items() if error}
                )
        return super().to_internal_value(data)


def normalise_website(value: str) -> str:
    """http(s) only, no credentials, scheme and host lower-cased, at least a `/` path."""
    value = value.strip()
    if "://" not in value:
        value = "https://" + value
    try:
        parts = urlsplit(value)
    except ValueError as exc:  # e.g. "https://i]x": an unbalanced IPv6 bracket
        raise serializers.ValidationError("Enter a valid website URL.") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise serializers.ValidationError("Only http and https websites are allowed.")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise serializers.ValidationError("A website must not contain credentials.")
    normalised = urlunsplit((scheme, parts.netloc.lower(), parts.path or "/", parts.query, parts.fragment))
    try:
        URLValidator(schemes=["http", "https"])(normalised)
    except DjangoValidationError as exc:
        raise serializers.ValidationError("Enter a valid website URL.") from exc
    return normalised


class WebsiteField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=2000, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        return normalise_website(super().to_internal_value(data))


def is_https_without_credentials(url: str) -> bool:
    """The logo URL rule, for the API, the pages and the admin: https, no user name or password."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and not parts.username and not parts.password


class HttpsUrlField(serializers.URLField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=2000, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        value = super().to_internal_value(data)
        if not is_https_without_credentials(value):
            raise serializers.ValidationError("The logo must be an https URL without credentials.")
        return value


class OrgIdField(serializers.CharField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=40, **kwargs)


class OrganizationCreateIn(StrictSerializer):
    name = serializers.CharField(min_length=3, max_length=100, validators=[validate_name])
    management_email = serializers.EmailField(required=False, max_length=254)
    website = WebsiteField(required=False, allow_null=True, allow_blank=True)
    logo = HttpsUrlField(required=False, allow_null=True)


class PasswordPolicyField(serializers.JSONField):
    """`{enabled, min_length, require_uppercase, require_number, require_special}` or null (the contract)."""

    def to_internal_value(self, data: Any) -> Any:
        if data is None:
            return None
        errors = policy_errors(data)
        if errors:
            raise serializers.ValidationError(errors)
        return {field: data[field] for field in POLICY_FIELDS}


class OrganizationUpdateIn(StrictSerializer):
    orgId = OrgIdField()
    name = serializers.CharField(required=False, min_length=3, max_length=100, validators=[validate_name])
    management_email = serializers.EmailField(required=False, max_length=254)
    website = WebsiteField(required=False, allow_null=True, allow_blank=True)
    logo = HttpsUrlField(required=False, allow_null=True)
    require_apikey_expiration = serializers.BooleanField(required=False)
    max_apikey_expiration_days = serializers.IntegerField(required=False, allow_null=True, min_value=1, max_value=365)
    enforcing_2fa = serializers.BooleanField(required=False)
    password_policy_config = PasswordPolicyField(required=False, allow_null=True)

    def validated_changes(self) -> dict[str, Any]:
        changes = {k: v for k, v in self.validated_data.items() if k != "orgId"}
        if "logo" in changes:
            changes["logo_url"] = changes.pop("logo")
        if changes.get("website") == "":
            changes["website"] = None
        return changes


class OrgIdIn(StrictSerializer):
    orgId = OrgIdField()


class PageIn(serializers.Serializer):
    """`page` (0-based) and `limit` (clamped to 100) from the query string."""

    page = serializers.IntegerField(required=False, default=0, min_value=0, max_value=1_000_000)
    limit = serializers.IntegerField(required=False, default=50, min_value=1)

    def validate_limit(self, value: int) -> int:
        return min(value, 100)


class OrganizationListIn(PageIn):
    orgId = OrgIdField(required=False, allow_blank=True)


class AuditListIn(PageIn):
    orgId = OrgIdField()
    tableName = serializers.ChoiceField(required=False, choices=AuditEvent.Table.values)
    operation = serializers.ChoiceField(required=False, choices=AuditEvent.Operation.values)


class RoleField(serializers.CharField):
    """A role, also spelled `invite_<role>`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=32, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        role = parse_role(super().to_internal_value(data))
        if role is None:
            raise serializers.ValidationError(f"Role must be one of {', '.join(ROLE_ORDER)}.")
        return role


class MemberInviteIn(StrictSerializer):
    orgId = OrgIdField()
    email = serializers.EmailField(max_length=254)
    role = RoleField(required=False)
    invite_type = RoleField(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        role = attrs.get("role") or attrs.get("invite_type")
        if role is None:
            raise serializers.ValidationError({"role": [serializers.ErrorDetail("Role is required.", code="required")]})
        attrs["role"] = role
        return attrs


class MemberRemoveIn(StrictSerializer):
    orgId = OrgIdField()
    email = serializers.EmailField(max_length=254)


class OrgIdListField(serializers.ListField):
    """A list of organization ids. A bad item is reported against the field, not by its index."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(child=OrgIdField(), max_length=100, **kwargs)

    def run_child_validation(self, data: list[Any]) -> list[Any]:
        try:
            return super().run_child_validation(data)
        except serializers.ValidationError as exc:
            raise serializers.ValidationError("Expected a list of organization ids.", code="invalid") from exc


class ApiKeyCreateIn(StrictSerializer):
    name = serializers.CharField(max_length=100, validators=[validate_name])
    mode = serializers.ChoiceField(required=False, choices=KeyMode.values, default=KeyMode.ALL)
    limited_to_orgs = OrgIdListField(required=False, default=list)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)


class ApiKeyUpdateIn(StrictSerializer):
    name = serializers.CharField(required=False, max_length=100, validators=[validate_name])
    mode = serializers.ChoiceField(required=False, choices=KeyMode.values)
    limited_to_orgs = OrgIdListField(required=False)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    regenerate = serializers.BooleanField(required=False, default=False)


# Output ----------------------------------------------------------------------------------
# Datetimes and UUIDs stay objects: the renderer writes them (in C) as DRF's encoder writes them.


def logo_url(logo_file: str, url: str | None, request: Request | None) -> str | None:
    """An uploaded file (its stored name) wins over a URL set through the API."""
    if logo_file:
        absolute = Organization._meta.get_field("logo_file").storage.url(logo_file)
        return request.build_absolute_uri(absolute) if request is not None else absolute
    return url or None


def organization_row_json(row: Mapping[str, Any], request: Request | None) -> dict[str, Any]:
    """An organization from a row of `access.ORGANIZATION_VALUES` (`.values()` or `visible_organizations_page`)."""
    return {
        "id": row["id"],
        "created_by": row["created_by_id"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "logo": logo_url(row["logo_file"], row["logo_url"], request),
        "name": row["name"],
        "management_email": row["management_email"],
        "customer_id": row["customer_id"],
        "website": row["website"],
        "require_apikey_expiration": row["require_apikey_expiration"],
        "max_apikey_expiration_days": row["max_apikey_expiration_days"],
        "enforcing_2fa": row["enforcing_2fa"],
        "password_policy_config": row["password_policy_config"],
    }


def organization_json(org: Organization, request: Request | None) -> dict[str, Any]:
    row = {name: getattr(org, name) for name in ORGANIZATION_VALUES}
    row["logo_file"] = org.logo_file.name
    return organization_row_json(row, request)


def security_member_json(row: SecurityRow) -> dict[str, Any]:
    return {
        "uid": row.uid,
        "email": row.email,
        "role": row.role,
        "2fa_enabled": row.two_factor,
        "password_policy_compliant": row.compliance.password,
    }


def member_json(row: MemberRow, request: Request | None) -> dict[str, Any]:
    image = row.image_url
    if image and request is not None:
        image = request.build_absolute_uri(image)
    return {"uid": row.uid, "email": row.email, "image_url": image, "role": row.role, "is_tmp": row.is_tmp}


def api_key_json(key: ApiKey, limited_to_orgs: list[str], plaintext: str | None = None) -> dict[str, Any]:
    return {
        "id": key.id,
        "name": key.name,
        "mode": key.mode,
        "key": plaintext,
        "key_preview": key.key_preview,
        "limited_to_orgs": limited_to_orgs,
        "expires_at": key.expires_at,
        "created_at": key.created_at,
        "updated_at": key.updated_at,
        "last_used_at": key.last_used_at,
        "user_id": key.user_id,
    }


def audit_json(event: AuditEvent) -> dict[str, Any]:
    return {
        "id": event.id,
        "created_at": event.created_at,
        "org_id": event.org_id,
        "table_name": event.table_name,
        "record_id": event.record_id,
        "operation": event.operation,
        "old_record": event.old_record,
        "new_record": event.new_record,
        "changed_fields": event.changed_fields,
        "actor_type": event.actor_type,
        "actor_user_id": event.actor_user_id,
        "actor_user_email": event.actor_user_email,
        "actor_apikey_id": event.actor_apikey_id,
        "actor_apikey_name": event.actor_apikey_name,
    }


# Output shapes, for the schema -----------------------------------------------------------


class PasswordPolicyOut(serializers.Serializer):
    enabled = serializers.BooleanField()
    min_length = serializers.IntegerField(min_value=6, max_value=72)
    require_uppercase = serializers.BooleanField()
    require_number = serializers.BooleanField()
    require_special = serializers.BooleanField()


class OrganizationOut(serializers.Serializer):
    id = serializers.CharField()
    created_by = serializers.CharField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    logo = serializers.URLField(allow_null=True)
    name = serializers.CharField()
    management_email = serializers.EmailField()
    customer_id = serializers.CharField(allow_null=True)
    website = serializers.URLField(allow_null=True)
    require_apikey_expiration = serializers.BooleanField()
    max_apikey_expiration_days = serializers.IntegerField(allow_null=True)
    enforcing_2fa = serializers.BooleanField()
    password_policy_config = PasswordPolicyOut(allow_null=True)


# "2fa_enabled" is not an identifier, so the class is built with its fields named as in the JSON.
SecurityMemberOut = type(
    "SecurityMemberOut",
    (serializers.Serializer,),
    {
        "uid": serializers.CharField(),
        "email": serializers.EmailField(),
        "role": serializers.CharField(),
        "2fa_enabled": serializers.BooleanField(),
        "password_policy_compliant": serializers.BooleanField(allow_null=True),
        "__module__": __name__,
    },
)


class SecurityOut(serializers.Serializer):
    data = SecurityMemberOut(many=True)
    enforcing_2fa = serializers.BooleanField()
    password_policy_config = PasswordPolicyOut(allow_null=True)


class MemberOut(serializers.Serializer):
    uid = serializers.CharField()
    email = serializers.EmailField()
    image_url = serializers.URLField(allow_null=True)
    role = serializers.CharField()
    is_tmp = serializers.BooleanField()


class ApiKeyOut(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    mode = serializers.ChoiceField(choices=KeyMode.values)
    key = serializers.CharField(allow_null=True)
    key_preview = serializers.CharField()
    limited_to_orgs = serializers.ListField(child=serializers.CharField())
    expires_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    last_used_at = serializers.DateTimeField(allow_null=True)
    user_id = serializers.CharField()


class AuditEventOut(serializers.Serializer):
    id = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    org_id = serializers.CharField(allow_null=True)
    table_name = serializers.ChoiceField(choices=AuditEvent.Table.values)
    record_id = serializers.CharField()
    operation = serializers.ChoiceField(choices=AuditEvent.Operation.values)
    old_record = serializers.JSONField(allow_null=True)
    new_record = serializers.JSONField(allow_null=True)
    changed_fields = serializers.ListField(child=serializers.CharField(), allow_null=True)
    actor_type = serializers.ChoiceField(choices=AuditEvent.ActorType.values)
    actor_user_id = serializers.CharField(allow_null=True)
    actor_user_email = serializers.CharField(allow_null=True)
    actor_apikey_id = serializers.IntegerField(allow_null=True)
    actor_apikey_name = serializers.CharField(allow_null=True)


class ErrorOut(serializers.Serializer):
    status = serializers.CharField(default="KO")
    error = serializers.CharField()
    code = serializers.CharField()
    details = serializers.JSONField(required=False)
