"""Content negotiation that does not parse the Accept header clients do not send.

DRF's negotiation builds `request.headers` (every header of the request) and parses the Accept
header into media types on every request, which cost more CPU than the rest of the API's
dispatch (bench/README.md). Nearly every client sends no Accept, `*/*` or `application/json`,
for which DRF's answer is always the first renderer and its own media type: those are answered
without parsing. Anything else (`application/json; indent=4`, `text/html`, `?format=`) is DRF's
to decide, with its 406 and its pretty-printing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.settings import api_settings


class ContentNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Sequence[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str] | Any:
        accept = request.META.get("HTTP_ACCEPT")
        first = renderers[0] if renderers else None
        if (
            first is not None
            and not format_suffix
            and api_settings.URL_FORMAT_OVERRIDE not in request.query_params
            and (accept is None or accept == "*/*" or accept == first.media_type)
        ):
            return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
