"""JSON is the only body format; it is read whatever Content-Type the client sent."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class AnyJSONParser(JSONParser):
    """Parses every body as JSON; a body that is not a JSON object is a parse error.

    A JSONParser subclass, so DRF reads the body through Django's size check (413 past 1 MiB).
    """

    media_type = "*/*"

    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Mapping[str, Any] | None = None
    ) -> Any:
        raw = stream.read() if stream is not None else b""
        if not raw.strip():
            return {}
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError("Invalid JSON body") from exc
        if not isinstance(data, dict):
            raise ParseError("The body must be a JSON object")
        return data
