"""User-written text: the input rule for names, and isolating names where they are shown.

A name is shown inside our sentences (banners, emails, the audit log, the admin). A right-to-left
override (U+202E) in it would reverse the sentence around it, and a control character can hide
or fake what the name says. So names refuse them at input, on every surface (API serializers,
page forms, the admin), and the pages show every name in its own bidirectional isolate.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

# The explicit bidirectional formatting characters: embeddings and overrides (U+202A–U+202E),
# isolates (U+2066–U+2069), and the invisible direction marks (ALM, LRM, RLM). Zero-width joiners
# stay allowed: emoji sequences and several scripts need them.
BIDI_CONTROLS = frozenset(
    chr(code) for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x061C, 0x200E, 0x200F)
)
# Line and paragraph separators break a one-line name as a newline would.
LINE_SEPARATORS = frozenset({"\u2028", "\u2029"})

FIRST_STRONG_ISOLATE = "\u2068"
POP_DIRECTIONAL_ISOLATE = "\u2069"

NAME_ERROR = _("A name cannot contain control characters or invisible direction marks.")


def invisible_controls(value: str) -> list[str]:
    """The characters of `value` that a name may not contain (C0/C1 controls, bidi controls)."""
    return [ch for ch in value if unicodedata.category(ch) == "Cc" or ch in BIDI_CONTROLS or ch in LINE_SEPARATORS]


def validate_name(value: str) -> None:
    """The one rule for names (organizations, API keys, webhooks, people). A Django validator:
    forms and the admin show its message at the field, DRF turns it into 400 `invalid_body`."""
    if invisible_controls(value):
        raise ValidationError(NAME_ERROR, code="control_characters")


def _needs_isolation(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") or ch in BIDI_CONTROLS for ch in text)


def isolate(text: str) -> str:
    """`text` in a first-strong isolate when it could reorder the sentence around it.

    For plain-text places (the admin's own messages, titles): names written right to left, or
    stored before the input rule existed, stay inside their own run. Left-to-right text is
    returned as it is, so nothing changes for it.
    """
    if not text or not _needs_isolation(text):
        return text
    # An unterminated embedding inside the name ends with the isolate.
    return f"{FIRST_STRONG_ISOLATE}{text}{POP_DIRECTIONAL_ISOLATE}"


def sentence(template: Any, **values: Any) -> SafeString:
    """A translated `template` ("%(name)s was removed.") filled in as HTML for a banner: the
    template and every value escaped, each value in its own <bdi>, so a name cannot reorder or
    break the sentence around it."""
    return mark_safe(  # noqa: S308 - every part is escaped above
        conditional_escape(str(template)) % {key: format_html("<bdi>{}</bdi>", value) for key, value in values.items()}
    )


def with_link(message: SafeString, url: str, label: Any) -> SafeString:
    """A banner with the obvious next step after it."""
    return format_html('{} <a href="{}">{}</a>', message, url, label)
