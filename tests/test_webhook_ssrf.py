"""The SSRF guard: https, a host name, every resolved address public, and the connection made to
the address that was checked. A real DNS server on loopback answers; nothing here ever connects
to an address that is not on this machine.
"""

from __future__ import annotations

import ipaddress

import trustme
from django.test import override_settings

from tests.base import ApiTestCase
from tests.dns_server import DnsServer
from tests.receiver import Answer, Receiver
from tests.tasks import BACKENDS, DATABASE, run_tasks
from webhooks import transport
from webhooks.exceptions import InvalidUrl
from webhooks.models import Delivery, Webhook

WEBHOOKS = "/webhooks/"
# Public addresses that nothing here connects to: every test that resolves to one is refused
# before connecting, or only checks the URL.
PUBLIC_V4, PUBLIC_V6 = "93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class AddressRulesTestCase(ApiTestCase):
    def test_only_global_unicast_addresses_are_public(self) -> None:
        refused = [
            "10.1.2.3", "172.16.0.1", "192.168.1.1",  # private
            "127.0.0.1", "127.8.8.8", "::1",  # loopback
            "169.254.169.254", "fe80::1",  # link-local (cloud metadata lives there)
            "0.0.0.0", "::",  # unspecified
            "100.64.0.1",  # carrier-grade NAT
            "192.0.2.1", "198.51.100.7", "203.0.113.9", "2001:db8::1",  # documentation
            "198.18.0.1",  # benchmarking
            "240.0.0.1", "255.255.255.255",  # reserved, broadcast
            "224.0.0.1", "ff02::1",  # multicast
            "fc00::1", "fd12:3456::1",  # unique local
            "::ffff:10.0.0.1", "::ffff:127.0.0.1",  # IPv4-mapped
            "2002:0a00:0001::1",  # 6to4 around 10.0.0.1
            "64:ff9b::a00:1", "64:ff9b::7f00:1",  # NAT64 around 10.0.0.1, 127.0.0.1
        ]  # fmt: skip
        for address in refused:
            with self.subTest(address=address):
                self.assertFalse(transport.is_public(ipaddress.ip_address(address)))
        for address in (PUBLIC_V4, PUBLIC_V6, "8.8.8.8", "::ffff:8.8.8.8", "64:ff9b::808:808"):
            with self.subTest(address=address):
                self.assertTrue(transport.is_public(ipaddress.ip_address(address)))


class GuardTestCase(ApiTestCase):
    """Through the API: refused URLs are 400 invalid_url, and nothing is created."""

    def setUp(self) -> None:
        super().setUp()
        self.dns = DnsServer().__enter__()
        self.addCleanup(self.dns.__exit__)
        settings = override_settings(DNS_RESOLVER=self.dns.address, WEBHOOK_ALLOW_PRIVATE_URLS=False)
        settings.enable()
        self.addCleanup(settings.disable)

    def create(self, url: str):  # noqa: ANN201
        return self.post(
            WEBHOOKS, {"orgId": self.org.id, "name": "Hook", "url": url, "events": ["orgs"]}, key=self.key["all"]
        )

    def assertRefused(self, url: str) -> None:  # noqa: N802
        body = self.assertError(self.create(url), 400, "invalid_url")
        self.assertNotIn("Traceback", body["error"])
        self.assertFalse(Webhook.objects.exists())

    def test_a_public_https_host_is_accepted(self) -> None:
        self.dns.add("hooks.example.com", "A", PUBLIC_V4)
        self.dns.add("hooks.example.com", "AAAA", PUBLIC_V6)
        self.assertEqual(self.create("https://hooks.example.com/capgo?token=x").status_code, 201)
        self.assertIn(("hooks.example.com", "A"), self.dns.queries)
        self.assertIn(("hooks.example.com", "AAAA"), self.dns.queries)

    def test_http_is_refused(self) -> None:
        self.dns.add("hooks.example.com", "A", PUBLIC_V4)
        self.assertRefused("http://hooks.example.com/capgo")

    def test_ip_literals_are_refused_even_public_ones(self) -> None:
        for url in (
            f"https://{PUBLIC_V4}/x", f"https://[{PUBLIC_V6}]/x", "https://127.0.0.1/x", "https://[::1]/x",
            "https://2130706433/x", "https://0x7f000001/x", "https://127.1/x",
        ):  # fmt: skip
            with self.subTest(url=url):
                self.assertRefused(url)
        self.assertEqual(self.dns.queries, [])  # refused before any lookup

    def test_localhost_and_names_resolving_inside_are_refused(self) -> None:
        for name, record_type, address in (
            ("private.example.com", "A", "10.0.0.5"),
            ("loopback.example.com", "A", "127.0.0.1"),
            ("metadata.example.com", "A", "169.254.169.254"),
            ("reserved.example.com", "A", "240.0.0.1"),
            ("cgnat.example.com", "A", "100.64.1.1"),
            ("ula.example.com", "AAAA", "fd00::1"),
            ("mapped.example.com", "AAAA", "::ffff:c0a8:1"),  # ::ffff:192.168.0.1 (dnslib wants hex)
        ):
            self.dns.add(name, record_type, address)
            with self.subTest(name=name):
                self.assertRefused(f"https://{name}/x")
        for url in ("https://localhost/x", "https://api.localhost/x"):
            with self.subTest(url=url):
                self.assertRefused(url)

    def test_one_private_address_among_public_ones_is_enough_to_refuse(self) -> None:
        self.dns.add("mixed.example.com", "A", PUBLIC_V4, "10.0.0.1")
        self.assertRefused("https://mixed.example.com/x")
        self.dns.add("mixed6.example.com", "A", PUBLIC_V4)
        self.dns.add("mixed6.example.com", "AAAA", "::1")
        self.assertRefused("https://mixed6.example.com/x")

    def test_bad_urls_are_refused(self) -> None:
        for url in ("", "hooks.example.com", "ftp://hooks.example.com/", "https://user:pass@hooks.example.com/",
                    "https://[::1/x", "https://hooks.example.com:99999/"):  # fmt: skip
            with self.subTest(url=url):
                self.assertRefused(url)

    def test_a_name_that_does_not_resolve_yet_is_saved_but_never_reached(self) -> None:
        # As Capgo: DNS may not be set up yet, or down. Only a delivery's own lookup lets it through.
        self.assertEqual(self.create("https://soon.example.com/x").status_code, 201)
        result = transport.post("https://soon.example.com/x", b"{}", {})
        self.assertEqual((result.status, result.error), (None, "invalid_url"))
        self.assertIn("does not resolve", result.preview)
        self.dns.add("soon.example.com", "A", "10.0.0.8")
        self.assertIn("public host", transport.post("https://soon.example.com/x", b"{}", {}).preview)

    def test_an_update_to_a_private_url_is_refused(self) -> None:
        self.dns.add("hooks.example.com", "A", PUBLIC_V4)
        webhook = self.create("https://hooks.example.com/x").json()["webhook"]
        self.dns.add("inside.example.com", "A", "192.168.1.10")
        r = self.put(WEBHOOKS, {"orgId": self.org.id, "webhookId": webhook["id"], "url": "https://inside.example.com/"},
                     key=self.key["all"])  # fmt: skip
        self.assertError(r, 400, "invalid_url")
        self.assertEqual(Webhook.objects.get().url, "https://hooks.example.com/x")

    def test_a_host_that_resolves_public_then_private_is_refused_at_delivery(self) -> None:
        # DNS rebinding: public when the webhook is saved, private when the delivery goes out.
        self.dns.answer_in_turn("rebind.example.com", "A", [PUBLIC_V4], ["10.0.0.1"])
        self.dns.add("rebind.example.com", "AAAA")
        self.assertEqual(self.create("https://rebind.example.com/x").status_code, 201)
        with override_settings(TASKS=BACKENDS[DATABASE]), self.captureOnCommitCallbacks(execute=True):
            self.put("/organization/", {"orgId": self.org.id, "name": "Renamed"}, key=self.key["all"])
        with override_settings(TASKS=BACKENDS[DATABASE]):
            run_tasks(DATABASE)
        delivery = Delivery.objects.get()
        self.assertEqual((delivery.status, delivery.attempt_count, delivery.response_status), ("pending", 1, None))
        self.assertIn("public host", delivery.response_preview)

    def test_the_test_button_obeys_the_guard_too(self) -> None:
        self.dns.answer_in_turn("rebind.example.com", "A", [PUBLIC_V4], ["127.0.0.1"])
        webhook = self.create("https://rebind.example.com/x").json()["webhook"]
        r = self.post(WEBHOOKS + "test/", {"orgId": self.org.id, "webhookId": webhook["id"]}, key=self.key["all"])
        self.assertEqual(r.status_code, 200)
        self.assertEqual((r.json()["success"], r.json()["status"]), (False, None))
        self.assertIn("public host", r.json()["response_preview"])


class TransportTestCase(ApiTestCase):
    """With WEBHOOK_ALLOW_PRIVATE_URLS (loopback allowed), what the transport actually does."""

    def setUp(self) -> None:
        super().setUp()
        self.dns = DnsServer().__enter__()
        self.addCleanup(self.dns.__exit__)
        settings = override_settings(DNS_RESOLVER=self.dns.address, WEBHOOK_ALLOW_PRIVATE_URLS=True)
        settings.enable()
        self.addCleanup(settings.disable)

    def test_the_connection_goes_to_the_address_that_was_checked(self) -> None:
        # The second lookup would answer an address nothing listens on: there must not be one.
        self.dns.answer_in_turn("hooks.test", "A", ["127.0.0.1"], ["127.0.0.2"])
        with Receiver() as receiver:
            result = transport.post(receiver.url("hooks.test"), b"{}", {"Content-Type": "application/json"})
        self.assertEqual(result.status, 200)
        self.assertEqual(receiver.requests[0].host, f"hooks.test:{receiver.port}")
        self.assertEqual(self.dns.queries.count(("hooks.test", "A")), 1)

    def test_tls_uses_the_host_name_for_sni_and_the_certificate(self) -> None:
        ca = trustme.CA()
        cert = ca.issue_cert("hooks.test")
        self.dns.add("hooks.test", "A", "127.0.0.1")
        with (
            ca.cert_pem.tempfile() as ca_file,
            cert.cert_chain_pems[0].tempfile() as cert_file,
            cert.private_key_pem.tempfile() as key_file,
            Receiver(tls=(cert_file, key_file)) as receiver,
            override_settings(WEBHOOK_CA_FILE=ca_file),
        ):
            ok = transport.post(receiver.url("hooks.test"), b"{}", {})
            # The same server by its address: the certificate does not name it, so TLS refuses.
            by_address = transport.post(receiver.url("127.0.0.1"), b"{}", {})
        self.assertEqual(ok.status, 200)
        self.assertEqual(receiver.requests[0].host, f"hooks.test:{receiver.port}")
        self.assertIsNone(by_address.status)
        self.assertIn("certificate", by_address.preview)

    def test_redirects_are_not_followed(self) -> None:
        with Receiver() as receiver:
            receiver.answer(Answer(302, headers={"Location": receiver.url(path="/elsewhere")}))
            result = transport.post(receiver.url(), b"{}", {})
        self.assertEqual(result.status, 302)
        self.assertFalse(result.ok)
        self.assertEqual([r.path for r in receiver.requests], ["/hook"])

    def test_a_slow_receiver_is_cut_off_at_the_timeout(self) -> None:
        with Receiver() as receiver, override_settings(WEBHOOK_TIMEOUT_SECONDS=1):
            receiver.answer(Answer(200, hang=3))
            result = transport.post(receiver.url(), b"{}", {})
        self.assertIsNone(result.status)
        self.assertIn("no answer within 1 seconds", result.preview)
        self.assertLess(result.duration_ms, 2500)

    def test_the_preview_is_bounded(self) -> None:
        with Receiver() as receiver:
            receiver.answer(Answer(200, body=b"x" * 50_000))
            result = transport.post(receiver.url(), b"{}", {})
        self.assertEqual(len(result.preview), transport.PREVIEW_BYTES)

    def test_without_the_setting_loopback_is_refused_before_connecting(self) -> None:
        with Receiver() as receiver, override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False):
            self.dns.add("hooks.test", "A", "127.0.0.1")
            result = transport.post(receiver.url("hooks.test").replace("http:", "https:"), b"{}", {})
        self.assertEqual((result.status, result.error), (None, "invalid_url"))
        self.assertEqual(receiver.requests, [])

    def test_check_url_names_the_reason(self) -> None:
        with override_settings(WEBHOOK_ALLOW_PRIVATE_URLS=False), self.assertRaises(InvalidUrl) as refused:
            transport.check_url("http://hooks.example.com/")
        self.assertIn("https", str(refused.exception.message))
