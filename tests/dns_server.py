"""A real DNS server on loopback for tests (dnslib), pointed at by settings.DNS_RESOLVER.

    with DnsServer() as dns:
        dns.add("hooks.example.com", "A", "93.184.215.14")
        dns.add("hooks.example.com", "TXT", "capgo-verification=abc")   # domain checks (SSO) too
        dns.answer_in_turn("rebind.example.com", "A", ["93.184.215.14"], ["10.0.0.1"])
        with override_settings(DNS_RESOLVER=dns.address): ...

Names without records answer NXDOMAIN. `queries` records every (name, type) asked.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from dnslib import AAAA, QTYPE, RCODE, RR, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

_RDATA = {"A": A, "AAAA": AAAA, "TXT": TXT}


class _Resolver(BaseResolver):
    def __init__(self, owner: DnsServer) -> None:
        self.owner = owner

    def resolve(self, request: DNSRecord, handler: Any) -> DNSRecord:
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        values, known = self.owner._next_answer(name, qtype)
        if not known:
            reply.header.rcode = RCODE.NXDOMAIN
        for value in values:
            reply.add_answer(RR(request.q.qname, getattr(QTYPE, qtype), rdata=_RDATA[qtype](value), ttl=0))
        return reply


class DnsServer:
    """UDP on 127.0.0.1 at a free port; `address` is what DNS_RESOLVER takes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[tuple[str, str], list[list[str]]] = defaultdict(list)
        self.queries: list[tuple[str, str]] = []
        self._server = DNSServer(_Resolver(self), address="127.0.0.1", port=0, logger=DNSLogger(log="-request,-reply"))

    @property
    def address(self) -> str:
        host, port = self._server.server.server_address[:2]
        return f"{host}:{port}"

    def add(self, name: str, record_type: str, *values: str) -> None:
        """Answer `name` `record_type` queries with `values`, every time."""
        with self._lock:
            self._records[(name.lower(), record_type)] = [list(values)]

    def answer_in_turn(self, name: str, record_type: str, *answers: Iterable[str]) -> None:
        """Answer the first query with the first list, the next with the next; the last one repeats."""
        with self._lock:
            self._records[(name.lower(), record_type)] = [list(a) for a in answers]

    def _next_answer(self, name: str, record_type: str) -> tuple[list[str], bool]:
        with self._lock:
            self.queries.append((name, record_type))
            known = any(n == name for n, _t in self._records)
            answers = self._records.get((name, record_type))
            if not answers:
                return [], known
            return (answers.pop(0) if len(answers) > 1 else answers[0]), True

    def __enter__(self) -> DnsServer:
        # A short poll interval: stopping the server should not cost half a second a test.
        threading.Thread(target=self._server.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.server.shutdown()
        self._server.server.server_close()
