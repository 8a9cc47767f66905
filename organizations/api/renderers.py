"""The API's JSON renderer: DRF's, encoding with orjson.

On a list of 100 members, DRF's `json.dumps` (with its encoder class and the U+2028 pass) cost
more CPU than building the rows (bench/README.md). The output is byte for byte DRF's for every
answer of this API: compact, UTF-8 (not ASCII-escaped), U+2028 and U+2029 escaped, datetimes in
ISO 8601 with `Z` for UTC and UUIDs hyphenated (orjson writes both as DRF's encoder does, in C:
the API's output functions leave them as objects, and on a list of 50 organizations formatting
100 datetimes in Python cost more than the rest of the rendering). What orjson would write
differently goes to DRF's own encoder instead: dataclasses and other objects through
`JSONEncoder.default` (lazy translations, Decimal); pretty-printing
(`Accept: application/json; indent=4`) and anything orjson refuses (integers beyond 64 bits,
time zone aware times) through DRF's `render` itself. Two differences, for values this API never
sends: NaN and the infinities become null where DRF's strict mode raises; and a UTC offset with
seconds (a local mean time, before 1900) is written to the minute. The API's datetimes are UTC.
"""

from __future__ import annotations

from typing import Any

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z | orjson.OPT_PASSTHROUGH_DATACLASS
_default = JSONEncoder().default


class JSONRenderer(renderers.JSONRenderer):
    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: dict[str, Any] | None = None
    ) -> bytes:
        if data is None:
            return b""
        if self.get_indent(accepted_media_type, renderer_context or {}) is not None:
            return super().render(data, accepted_media_type, renderer_context)
        try:
            content = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        if b"\xe2\x80" in content:
            content = content.replace("\u2028".encode(), b"\\u2028").replace("\u2029".encode(), b"\\u2029")
        return content
