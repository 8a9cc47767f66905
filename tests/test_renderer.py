"""The API's JSON renderer (orjson) writes exactly what DRF's JSONRenderer writes; its content
negotiation chooses what DRF's chooses."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.test import SimpleTestCase
from django.utils.translation import gettext_lazy
from rest_framework import renderers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from organizations.api.negotiation import ContentNegotiation
from organizations.api.renderers import JSONRenderer
from tests.base import ApiTestCase


@dataclass
class Point:
    x: int


PAYLOADS = [
    {"data": [], "total": 0, "page": 0, "limit": 50},
    {"status": "OK", "data": {"uid": "u", "image_url": None, "is_tmp": False, "role": "invite_read"}},
    {"name": "Zürich GmbH — 東京 🚀", "quote": 'say "hi"\\ /path', "control": "a\x00b\x1fc\n\t\x7f"},
    {"separators": "line\u2028paragraph\u2029end", "nested": [[{"deep": [1, -2, 0, True, None]}]]},
    {"error": gettext_lazy("Organization not found"), "details": {"orgId": [gettext_lazy("This field is required.")]}},
    {"when": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "whole": datetime(2026, 1, 2, tzinfo=UTC)},
    {
        "naive": datetime(2026, 1, 2, 3, 4, 5),
        "berlin": datetime(2026, 7, 2, 3, 4, 5, 1, tzinfo=ZoneInfo("Europe/Berlin")),
        "london": datetime(2026, 1, 2, tzinfo=ZoneInfo("Europe/London")),
        "offset": datetime(2026, 1, 2, tzinfo=timezone(-timedelta(hours=3, minutes=30))),
        "first": datetime(1, 1, 1, tzinfo=UTC),
        "day": date(2026, 1, 2),
        "time": time(3, 4, 5, 6),
        "none": None,
    },  # fmt: skip
    {"id": uuid.UUID("12345678-1234-5678-1234-567812345678"), "amount": Decimal("1.50")},
    {1: "int key", "big": 2**70, "float": 0.1},
]


class RendererTestCase(SimpleTestCase):
    def test_every_payload_is_drfs_bytes(self) -> None:
        ours, drf = JSONRenderer(), renderers.JSONRenderer()
        for payload in PAYLOADS:
            with self.subTest(payload=payload):
                self.assertEqual(ours.render(payload), drf.render(payload))

    def test_what_drf_cannot_encode_is_refused_alike(self) -> None:
        for renderer in [JSONRenderer(), renderers.JSONRenderer()]:
            with self.assertRaises(TypeError):
                renderer.render({"point": Point(3)})
            with self.assertRaises(ValueError):
                renderer.render({"aware time": time(3, 4, tzinfo=UTC)})

    def test_the_documented_difference_an_offset_with_seconds_is_written_to_the_minute(self) -> None:
        local_mean_time = datetime(1800, 1, 2, 3, 4, 5, tzinfo=ZoneInfo("Asia/Kolkata"))  # +05:53:28
        self.assertEqual(renderers.JSONRenderer().render([local_mean_time]), b'["1800-01-02T03:04:05+05:53:28"]')
        self.assertEqual(JSONRenderer().render([local_mean_time]), b'["1800-01-02T03:04:05+05:53"]')

    def test_pretty_printing_is_drfs(self) -> None:
        ours, drf = JSONRenderer(), renderers.JSONRenderer()
        for media_type in ["application/json; indent=4", "application/json; indent=0"]:
            self.assertEqual(ours.render(PAYLOADS[3], media_type), drf.render(PAYLOADS[3], media_type))
        self.assertEqual(ours.render(None), b"")


class ApiAnswersTestCase(ApiTestCase):
    def test_answers_are_what_drf_would_have_written(self) -> None:
        self.org.name = "Zürich \u2028 東京"
        self.org.save()
        for path, params in [("/organization/", {}), ("/organization/", {"orgId": self.org.id}),
                             ("/organization/members/", {"orgId": self.org.id}),
                             ("/organization/", {"orgId": "org_missing"})]:  # fmt: skip
            with self.subTest(path=path, params=params):
                r = self.get(path, params, key=self.key["read"])
                self.assertEqual(r["Content-Type"], "application/json")
                self.assertEqual(r.content, renderers.JSONRenderer().render(r.json()))
        self.assertIn(b"\\u2028", self.get("/organization/", {"orgId": self.org.id}, key=self.key["read"]).content)


class NegotiationTestCase(SimpleTestCase):
    """organizations.api.negotiation answers what DRF's negotiation answers, parsing less."""

    ACCEPTS = [None, "*/*", "application/json", "", "application/*", "application/json; indent=4",
               "text/html", "text/html, application/json;q=0.9", "*/*; q=0.5", "APPLICATION/JSON"]  # fmt: skip

    def choose(self, negotiation: Any, accept: str | None, query: str = "") -> Any:
        extra = {} if accept is None else {"HTTP_ACCEPT": accept}
        request = Request(APIRequestFactory().get(f"/organization/{query}", **extra))
        try:
            renderer, media_type = negotiation.select_renderer(request, [JSONRenderer()])
        except Exception as exc:  # noqa: BLE001 - the same refusal is the expected answer
            return type(exc)
        return type(renderer), media_type

    def test_every_accept_gets_drfs_answer(self) -> None:
        ours, drf = ContentNegotiation(), DefaultContentNegotiation()
        for accept in self.ACCEPTS:
            for query in ["", "?format=json", "?format=xml"]:
                with self.subTest(accept=accept, query=query):
                    self.assertEqual(self.choose(ours, accept, query), self.choose(drf, accept, query))

    def test_the_usual_accepts_are_answered_without_reading_the_headers(self) -> None:
        for accept in [None, "*/*", "application/json"]:
            extra = {} if accept is None else {"HTTP_ACCEPT": accept}
            request = Request(APIRequestFactory().get("/organization/", **extra))
            ContentNegotiation().select_renderer(request, [JSONRenderer()])
            self.assertNotIn("headers", request._request.__dict__)  # Django builds it on first use


class NegotiatedAnswersTestCase(ApiTestCase):
    def test_what_a_client_accepts_still_decides_the_answer(self) -> None:
        compact = self.get("/organization/", {"orgId": self.org.id}, key=self.key["read"], HTTP_ACCEPT="*/*")
        self.assertEqual((compact.status_code, compact.content[:9]), (200, b'{"data":{'))
        pretty = self.get("/organization/", {"orgId": self.org.id}, key=self.key["read"],
                          HTTP_ACCEPT="application/json; indent=4")  # fmt: skip
        self.assertEqual((pretty.status_code, pretty.content[:15]), (200, b'{\n    "data": {'))
        refused = self.get("/organization/", {"orgId": self.org.id}, key=self.key["read"], HTTP_ACCEPT="text/xml")
        self.assertEqual((refused.status_code, refused["Content-Type"]), (406, "application/json"))
        self.assertIn("error", refused.json())
