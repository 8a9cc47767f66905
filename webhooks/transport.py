"""The SSRF guard and the one HTTP client of the webhooks: a POST to the address that was checked.

A receiver's URL must be https with a host name (not an IP literal) whose every address is
public. The name is resolved here (dnspython, through settings.DNS_RESOLVER), each address is
checked, and the connection goes to a checked address while TLS (SNI, certificate) and the
Host header use the name: a DNS answer that changes between the check and the request (DNS
rebinding) cannot point the request inside. Redirects are never followed.

settings.WEBHOOK_ALLOW_PRIVATE_URLS lifts the address, scheme and IP-literal rules, for
development and tests only.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import logging
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import dns.exception
import dns.resolver
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from webhooks.exceptions import InvalidUrl

logger = logging.getLogger("webhooks.transport")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
PREVIEW_BYTES = 10_000
# IPv6 prefixes that embed an IPv4 address a gateway would reach: NAT64 (RFC 6052, RFC 8215).
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


class Unresolved(InvalidUrl):
    """The host name has no address (NXDOMAIN, no A or AAAA, or the DNS did not answer)."""


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`addresses`, each checked) and what to call the host."""

    scheme: str
    host: str
    port: int
    path: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class Result:
    """What one POST came to. `status` is None when no HTTP answer arrived (`error` says why)."""

    status: int | None
    preview: str
    duration_ms: int
    retry_after: float | None = None
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def is_public(address: IPAddress) -> bool:
    """A globally routable unicast address, looking through the IPv6 forms that embed an IPv4 one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour or (address.teredo[1] if address.teredo else None)
        if embedded is None and any(address in net for net in _NAT64):
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(embedded)
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _nameserver() -> tuple[str, int]:
    """settings.DNS_RESOLVER as (address, port): "127.0.0.1:5353", "10.0.0.2" or "::1"."""
    value = settings.DNS_RESOLVER
    if value.count(":") == 1:
        address, port = value.split(":")
        return address, int(port)
    return value, 53


def _resolver() -> dns.resolver.Resolver:
    if settings.DNS_RESOLVER:
        resolver = dns.resolver.Resolver(configure=False)
        address, resolver.port = _nameserver()
        resolver.nameservers = [address]
    else:
        resolver = dns.resolver.Resolver()  # the system's (/etc/resolv.conf)
    resolver.lifetime = resolver.timeout = settings.DNS_TIMEOUT_SECONDS
    return resolver


def resolve(host: str) -> list[str]:
    """Every A and AAAA address of `host` (IPv4 first). Raises InvalidUrl when there is none."""
    if host == "localhost" or host.endswith(".localhost"):
        return ["127.0.0.1", "::1"]  # RFC 6761: never asked of DNS
    if settings.DNS_RESOLVER == "none":
        raise Unresolved(_("The webhook URL's host name could not be resolved. Try again later."))
    resolver = _resolver()
    addresses: list[str] = []
    failed = False
    for record_type in ("A", "AAAA"):
        try:
            answer = resolver.resolve(host, record_type, search=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except (dns.exception.DNSException, OSError):
            failed = True
            continue
        addresses += [record.to_text() for record in answer]
    if not addresses:
        if failed:
            raise Unresolved(_("The webhook URL's host name could not be resolved. Try again later."))
        raise Unresolved(_("The webhook URL's host name does not resolve."))
    return addresses


def check_url(url: str) -> Target:
    """The URL, resolved and checked. Raises InvalidUrl (400 `invalid_url`) with the reason."""
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidUrl(_("The webhook URL is not valid.")) from None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".").lower()
    if scheme not in ("http", "https") or not host:
        raise InvalidUrl(_("The webhook URL is not valid."))
    if scheme != "https" and not allow_private:
        raise InvalidUrl(_("The webhook URL must use https."))
    if parts.username is not None or parts.password is not None:
        raise InvalidUrl(_("The webhook URL must not contain credentials."))
    literal = _ip_literal(host)
    if not allow_private:
        # A TLD is never numeric: "127.1" or "0x7f000001" are addresses in disguise, not names.
        tld = host.rsplit(".", 1)[-1]
        if literal is not None or not tld[:1].isalpha():
            raise InvalidUrl(_("The webhook URL must use a host name, not an IP address."))
        if host == "localhost" or host.endswith(".localhost"):
            raise InvalidUrl(_("The webhook URL must point to a public host."))
    addresses = [str(literal)] if literal is not None else resolve(host)
    if not allow_private and not all(is_public(ipaddress.ip_address(a)) for a in addresses):
        # One private answer is enough: the next lookup might return it alone.
        raise InvalidUrl(_("The webhook URL must point to a public host."))
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path, tuple(addresses))


def check_webhook_url(url: str) -> None:
    """The check when a webhook is saved: `check_url`, except that a name that does not resolve (yet,
    or the DNS is down) is accepted. Nothing is reached through it until a delivery's own check
    resolves it to public addresses only."""
    try:
        check_url(url)
    except Unresolved:
        return


def host_of(url: str) -> str:
    """The host part of a URL, for log lines: the path and query may hold a token."""
    try:
        return urlsplit(url).hostname or "?"
    except ValueError:
        return "?"


def _connection_class(scheme: str) -> type[http.client.HTTPConnection]:
    return http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context(cafile=settings.WEBHOOK_CA_FILE or None)


def _connect(target: Target, timeout: float) -> http.client.HTTPConnection:
    """A connection to the first reachable checked address, named for the host (SNI, certificate, Host)."""
    kwargs = {"context": _tls_context()} if target.scheme == "https" else {}
    last_error: OSError | None = None
    for address in target.addresses:
        conn = _connection_class(target.scheme)(target.host, target.port, timeout=timeout, **kwargs)
        # http.client connects to (host, port); pin it to the address that was checked instead.
        conn._create_connection = lambda _hp, t, src, a=address: socket.create_connection(  # type: ignore[attr-defined]
            (a, target.port), t, src
        )
        try:
            conn.connect()
            return conn
        except OSError as exc:
            last_error = exc
            conn.close()
    raise last_error or OSError("no address")


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, (parsedate_to_datetime(value) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


def _describe(exc: BaseException, timed_out: bool) -> str:
    if timed_out or isinstance(exc, TimeoutError | socket.timeout):
        return _("Error: no answer within %(seconds)s seconds") % {"seconds": settings.WEBHOOK_TIMEOUT_SECONDS}
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _("Error: the TLS certificate could not be verified")
    if isinstance(exc, ssl.SSLError):
        return _("Error: the TLS handshake failed")
    if isinstance(exc, ConnectionRefusedError):
        return _("Error: connection refused")
    return _("Error: the delivery failed (%(error)s)") % {"error": type(exc).__name__}


def post(url: str, body: bytes, headers: dict[str, str]) -> Result:
    """POST `body` to `url` once: checked first, at most WEBHOOK_TIMEOUT_SECONDS in all, no redirect."""
    started = time.monotonic()

    def elapsed() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = check_url(url)
    except InvalidUrl as exc:
        return Result(None, _("Refused: %(reason)s") % {"reason": exc.message}, elapsed(), error="invalid_url")
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    conn: http.client.HTTPConnection | None = None
    timed_out = threading.Event()

    def abort() -> None:
        # A receiver that trickles bytes would otherwise outlast any per-read timeout.
        timed_out.set()
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(timeout, abort)
    timer.daemon = True
    timer.start()
    try:
        conn = _connect(target, timeout)
        conn.request("POST", target.path, body=body, headers=headers)
        response = conn.getresponse()
        preview = response.read(PREVIEW_BYTES).decode("utf-8", errors="replace")
        return Result(response.status, preview, elapsed(), retry_after=_retry_after(response.getheader("Retry-After")))
    except (OSError, http.client.HTTPException) as exc:
        logger.info("Webhook delivery to %s failed: %s", target.host, type(exc).__name__)
        return Result(None, _describe(exc, timed_out.is_set()), elapsed(), error=type(exc).__name__)
    finally:
        timer.cancel()
        if conn is not None:
            conn.close()
