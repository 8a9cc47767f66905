"""JSON is the only body format; it is read whatever Content-Type the client sent."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import IO, Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# No body of this API nests more than a few levels; a deep one is only an attack on the parser
# and on whatever walks the result (100,000 levels used to end in a RecursionError: a 500).
MAX_JSON_DEPTH = 32


def nests_deeper_than(data: Any, limit: int) -> bool:
    """True when objects and arrays in `data` nest more than `limit` deep (a loop: no recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            value = value.values()
        elif not isinstance(value, list):
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in value)
    return False


class AnyJSONParser(JSONParser):
    """Parses every body as JSON; a body that is not a JSON object, or nests too deep, is a parse error.

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
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise ParseError("Invalid JSON body") from exc
        if not isinstance(data, dict):
            raise ParseError("The body must be a JSON object")
        # Fewer brackets than the limit cannot nest deeper than it: most bodies skip the walk.
        if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and nests_deeper_than(data, MAX_JSON_DEPTH):
            raise ParseError("The body nests too deeply")
        return data
