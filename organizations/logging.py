"""A logging filter that keeps secrets out of every log line.

Nothing in the project logs a key, a digest or a password on purpose. This filter is the
backstop for what others log on our behalf: SQL with its parameters (django.db.backends
logs them when DEBUG is on, and a key's INSERT carries its digest), exception messages that
quote a row (an IntegrityError names the duplicate value), a library that echoes a header.
It is attached to the handlers in settings.LOGGING, so it sees every record they write.
SQL is logged without its values at all (see `_sql_without_values`).
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # An API key: keep the non-secret lookup part, which identifies the key in lists.
    (re.compile(r"(capgo_[a-z0-9]{8}_)[A-Za-z0-9_-]{20,}"), rf"\g<1>{REDACTED}"),
    # A webhook signing secret: keep the prefix, which says what was there.
    (re.compile(r"(whsec_)[A-Za-z0-9+/=]{16,}"), rf"\g<1>{REDACTED}"),
    # SHA-256 hex digests (API keys, invitation tokens).
    (re.compile(r"(?<![0-9A-Fa-f])[0-9a-f]{64}(?![0-9A-Fa-f])"), REDACTED),
    # Django password hashes: algorithm$...$...
    (
        re.compile(
            r"\b(?:pbkdf2_sha256|pbkdf2_sha1|argon2|bcrypt_sha256|bcrypt|scrypt|md5|sha1|unsalted_md5|unsalted_sha1)"
            r"\$[^\s'\",)]+"
        ),
        REDACTED,
    ),
    # Tokens that travel in a path: invitation links, email confirmations, password resets.
    (re.compile(r"(/invitations/)(?!accept/)[A-Za-z0-9_-]{16,}"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(/accounts/confirm-email/)[-:\w]{8,}"), rf"\g<1>{REDACTED}"),
    (re.compile(r"(/accounts/password/reset/key/)[-:\w]+"), rf"\g<1>{REDACTED}"),
    # Single sign-on (the sso app): a Fernet-encrypted client secret, and what travels back from an identity
    # provider in a URL or a form (an authorization code, the state, a SAML response or request).
    (re.compile(r"gAAAAA[A-Za-z0-9_=-]{20,}"), REDACTED),
    (
        re.compile(r"(?i)([?&](?:code|state|id_token|access_token|SAMLResponse|SAMLRequest|RelayState)=)[^&\s'\"]+"),
        rf"\g<1>{REDACTED}",
    ),  # fmt: skip
    (re.compile(r"(SAML(?:Response|Request)['\"]?\s*[:=]\s*['\"]?)[A-Za-z0-9+/=%]+"), rf"\g<1>{REDACTED}"),
    # Credentials in headers or key=value pairs: authorization, capgkey, x-api-key, password, secret.
    (
        re.compile(
            r"(?i)\b((?:http_)?(?:authorization|capgkey|x[-_]api[-_]key|password|passwd|(?:client_)?secret|cookie)"
            r"['\"]?\s*[:=]\s*['\"]?)(?:bearer\s+)?[^\s'\",;&}]+"
        ),
        rf"\g<1>{REDACTED}",
    ),
)


# A quoted SQL literal ('' escapes a quote inside one).
_SQL_LITERAL = re.compile(r"'(?:[^']|'')*'")


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _sql_without_values(record: logging.LogRecord) -> str | None:
    """django.db.backends' query lines, with every value left out: their shape and time, not their data.

    With DEBUG on, Django logs each query with its parameters inlined: session keys, session data,
    key digests, password hashes. What a query log is for (which queries, how long) needs none of them.
    """
    if not record.name.startswith("django.db.backends") or not isinstance(record.args, tuple):
        return None
    if len(record.args) == 4 and isinstance(record.args[1], str):  # "(%.3f) %s; args=%s; alias=%s"
        duration, sql, _params, alias = record.args
        return f"({duration:.3f}) {_SQL_LITERAL.sub('?', sql)}; alias={alias}"
    return _SQL_LITERAL.sub("?", record.getMessage())


class RedactSecretsFilter(logging.Filter):
    """Rewrites a record's message (and its traceback text) with secrets replaced by `[redacted]`."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
            cleaned = redact(_sql_without_values(record) or message)
        except Exception:  # a malformed record is the formatter's problem, not ours
            return True
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


try:
    from gunicorn.glogging import Logger as _GunicornLogger
except ImportError:  # pragma: no cover - gunicorn is a dependency; this module must import without it
    _GunicornLogger = object  # type: ignore[assignment,misc]


class GunicornLogger(_GunicornLogger):  # type: ignore[misc,valid-type]
    """gunicorn's access log with the request line, path, query and referer redacted like every other
    line (`--logger-class organizations.logging.GunicornLogger`): a token in a link stays out of it."""

    REDACTED_ATOMS = ("r", "U", "q", "f", "{referer}i")

    def atoms(self, resp: object, req: object, environ: dict, request_time: object) -> dict:
        atoms = super().atoms(resp, req, environ, request_time)
        for name in self.REDACTED_ATOMS:
            value = atoms.get(name)
            if isinstance(value, str):
                atoms[name] = redact(value)
        return atoms
