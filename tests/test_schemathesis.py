"""Fuzzing: schemathesis drives every operation of the OpenAPI schema (/api/schema/) in-process.

For each operation it generates up to MAX_EXAMPLES requests (valid and invalid), sends them
with a real key (`all` mode, its user super_admin of an organization) and checks that no
response is a 5xx, that every response matches the schema (status code, content type, headers,
body), that schema-invalid input is refused, that the operation refuses requests without
credentials (`ignored_auth`), and — our own check — that every error is the envelope.

Half of the examples swap the generated ids for real ones (the organization's id, a member's
email, a key id of the same user), so that generation reaches past the 404s.
Every example gets a fresh user, organization and keys: a generated DELETE or regenerate cannot
starve the next example. The database is transactional (flushed after each operation).
"""

from __future__ import annotations

import itertools
import os
import zlib
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from capgo_org.wsgi import application
from organizations import services
from organizations.roles import Principal, Role
from tests.base import add_member, make_key, make_user
from tests.dns_server import DnsServer
from webhooks.models import Delivery, Webhook

# 15 keeps `make test` fast; FUZZ_MAX_EXAMPLES=200 for a deeper run.
MAX_EXAMPLES = int(os.environ.get("FUZZ_MAX_EXAMPLES", "15"))

CONFIG = SchemathesisConfig.from_dict(
    {
        "phases": {"coverage": {"enabled": False}, "stateful": {"enabled": False}},
        "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
        # "Every schema-valid request is accepted" cannot hold here: some rules are beyond a JSON
        # schema (an expiry in the future, a name of 3 characters after trimming, a website that is a
        # real URL once normalised, no NUL characters). Invalid requests must still be refused.
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }
)
schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, config=CONFIG)
_serial = itertools.count()


@schemathesis.check
def error_envelope(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> bool | None:
    """Every error is {"status": "KO", "error": <sentence>, "code": <snake_case>, "details"?}."""
    if response.status_code < 400:
        return None
    body = response.json()
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    assert body.get("status") == "KO", f"error without status KO: {body!r}"
    assert isinstance(body.get("error"), str) and body["error"], f"error without a sentence: {body!r}"
    assert isinstance(body.get("code"), str) and body["code"].replace("_", "").isalnum(), f"bad code: {body!r}"
    assert set(body) <= {"status", "error", "code", "details"}, f"unexpected fields: {body!r}"
    for leak in ("Traceback", 'File "', "SELECT ", "psycopg", "sqlite3"):
        assert leak not in response.text, f"error body leaks {leak!r}"
    return None


def fresh_cast() -> dict[str, Any]:
    """A super_admin with an organization, a read member, two keys and a pending invitation."""
    n = next(_serial)
    owner = make_user(f"fuzz{n}@example.org")
    org = services.organization_create(actor=Principal(owner), name=f"Fuzz {n}")
    member = make_user(f"member{n}@example.org")
    add_member(org, member, Role.READ)
    services.member_invite(actor=Principal(owner), org=org, email=f"invited{n}@example.org", role=Role.WRITE)
    spare, _plaintext = make_key(owner, name="spare")
    # Its host does not resolve (the fuzz DNS server knows no name): a test ping fails quickly.
    webhook = Webhook.objects.create(organization=org, name="Fuzzed", url="https://hooks.invalid/x", events=["orgs"],
                                     secret="whsec_" + "A" * 43 + "=")  # fmt: skip
    delivery = Delivery.objects.create(webhook=webhook, event_type="orgs.UPDATE", event_id=f"e{n}", payload={},
                                       status="failed")  # fmt: skip
    return {
        "key": make_key(owner, name="fuzzer")[1],
        "orgId": org.id,
        "email": member.email,
        "key_id": str(spare.pk),
        "webhookId": str(webhook.pk),
        "deliveryId": str(delivery.pk),
    }


def use_real_ids(case: schemathesis.Case, cast: dict[str, Any]) -> None:
    for container in (case.query, case.body if isinstance(case.body, dict) else None):
        if container is None:
            continue
        for name in ("orgId", "email", "webhookId", "deliveryId"):
            if name in container:
                container[name] = cast[name]
        if isinstance(container.get("limited_to_orgs"), list):
            container["limited_to_orgs"] = [cast["orgId"]]
    if case.path_parameters and "key_id" in case.path_parameters:
        case.path_parameters["key_id"] = cast["key_id"]


@pytest.fixture(autouse=True)
def _dns_server(settings: Any) -> Any:
    """Generated webhook URLs are resolved by a DNS server here, which knows no name."""
    with DnsServer() as dns:
        settings.DNS_RESOLVER = dns.address
        yield


@pytest.mark.usefixtures("transactional_db")
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api(case: schemathesis.Case) -> None:
    cast = fresh_cast()
    # Half of the valid examples, chosen by their content (so that a failure replays the same way).
    positive = case.meta is None or not case.meta.generation.mode.is_negative
    if positive and zlib.crc32(repr((case.query, case.body, case.path_parameters)).encode()) % 2:
        use_real_ids(case, cast)
    case.call_and_validate(headers={"authorization": cast["key"]}, additional_checks=[error_envelope])
