"""The DNS proof of a domain: a TXT record at _capgo-sso.<domain> holding the organization's token.

Asked of settings.DNS_RESOLVER (the tests run a real DNS server on loopback), as webhook hosts are.
"""

from __future__ import annotations

import dns.exception
import dns.resolver
from django.conf import settings


def _resolver() -> dns.resolver.Resolver:
    if settings.DNS_RESOLVER:
        resolver = dns.resolver.Resolver(configure=False)
        address, _sep, port = (
            settings.DNS_RESOLVER.partition(":")
            if settings.DNS_RESOLVER.count(":") == 1
            else (settings.DNS_RESOLVER, "", "53")
        )
        resolver.nameservers = [address]
        resolver.port = int(port or 53)
    else:
        resolver = dns.resolver.Resolver()  # the system's (/etc/resolv.conf)
    resolver.lifetime = resolver.timeout = settings.DNS_TIMEOUT_SECONDS
    return resolver


class LookupFailed(Exception):
    """The DNS did not answer (timeout, SERVFAIL): try again later, nothing is proved either way."""


def txt_values(name: str) -> list[str]:
    """Every TXT string at `name` (the strings of one record joined, as RFC 7208 reads them)."""
    if settings.DNS_RESOLVER == "none":
        raise LookupFailed(name)
    try:
        answer = _resolver().resolve(name, "TXT", search=False)
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        return []
    except (dns.exception.DNSException, OSError) as exc:
        raise LookupFailed(name) from exc
    return [b"".join(record.strings).decode("utf-8", "replace") for record in answer]
