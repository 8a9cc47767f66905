"""The API's JSON renderer (orjson) writes exactly what DRF's JSONRenderer writes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.test import SimpleTestCase
from django.utils.translation import gettext_lazy
from rest_framework import renderers

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
