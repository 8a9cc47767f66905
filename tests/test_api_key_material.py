"""organizations.api_keys: the key format, the stored hash, verification, and what a verification costs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from unittest import TestCase, mock

from organizations import api_keys

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench" / "key_verify.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("key_verify_bench", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


class KeyFormatTestCase(TestCase):
    def test_a_key_is_prefix_lookup_and_secret(self) -> None:
        new = api_keys.generate_key()
        match = re.fullmatch(r"capgo_([a-z0-9]{8})_([A-Za-z0-9_-]{43})", new.plaintext)
        self.assertIsNotNone(match, new.plaintext)
        self.assertEqual(match.group(1), new.lookup)
        self.assertEqual(api_keys.parse_lookup(new.plaintext), new.lookup)

    def test_the_secret_part_carries_at_least_128_bits(self) -> None:
        secret = api_keys.generate_key().plaintext.split("_", 2)[2]
        raw = base64.urlsafe_b64decode(secret + "=" * (-len(secret) % 4))
        self.assertGreaterEqual(len(raw) * 8, 128)
        self.assertEqual(len(raw), 32)

    def test_keys_and_lookups_do_not_repeat(self) -> None:
        keys = [api_keys.generate_key() for _ in range(2000)]
        self.assertEqual(len({k.plaintext for k in keys}), len(keys))
        self.assertEqual(len({k.lookup for k in keys}), len(keys))
        self.assertEqual(len({k.plaintext.split("_", 2)[2] for k in keys}), len(keys))
        # The lookup alphabet is used in full: it is random, not a counter or a timestamp.
        self.assertEqual(set("".join(k.lookup for k in keys)), set("abcdefghijklmnopqrstuvwxyz0123456789"))

    def test_anything_that_is_not_a_key_has_no_lookup(self) -> None:
        good = api_keys.generate_key().plaintext
        for presented in (
            "", "not-a-key", good[:-1], good + "x", " " + good, good + "\n", good.replace("capgo_", "CAPGO_"),
            good.replace("capgo_", "capgx_"), "capgo_ABCDEFGH_" + "a" * 43, "capgo_abcdefg_" + "a" * 44,
            "capgo_abcdefgh_" + "a" * 42 + "!", "capgo_abcdefgh_" + "a" * 42 + "=",
        ):  # fmt: skip
            self.assertIsNone(api_keys.parse_lookup(presented), presented)

    def test_the_preview_shows_the_lookup_and_never_the_secret(self) -> None:
        new = api_keys.generate_key()
        preview = api_keys.preview(new.lookup)
        self.assertEqual(preview, f"capgo_{new.lookup}…")
        self.assertNotIn(new.plaintext.split("_", 2)[2], preview)
        self.assertTrue(new.plaintext.startswith(preview.rstrip("…")))

    def test_the_module_needs_no_django(self) -> None:
        code = (
            "import sys, organizations.api_keys; sys.exit(1 if any(m.startswith('django') for m in sys.modules) else 0)"
        )
        result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)


class KeyHashTestCase(TestCase):
    def test_the_stored_digest_is_the_sha256_hex_of_the_whole_key(self) -> None:
        new = api_keys.generate_key()
        self.assertEqual(new.digest, hashlib.sha256(new.plaintext.encode()).hexdigest())
        self.assertEqual(api_keys.hash_key(new.plaintext), new.digest)
        self.assertRegex(new.digest, r"^[0-9a-f]{64}$")
        self.assertNotIn(new.plaintext.split("_", 2)[2], new.digest)

    def test_verify_accepts_the_key_and_refuses_anything_else(self) -> None:
        new, other = api_keys.generate_key(), api_keys.generate_key()
        self.assertTrue(api_keys.verify(new.plaintext, new.digest))
        last = new.plaintext[-1]
        for presented in (
            new.plaintext[:-1] + ("A" if last != "A" else "B"),
            other.plaintext,
            new.plaintext + " ",
            "",
            new.digest,  # the digest itself is not a key
        ):
            self.assertFalse(api_keys.verify(presented, new.digest), presented)
        self.assertFalse(api_keys.verify(new.plaintext, other.digest))
        self.assertFalse(api_keys.verify(new.plaintext, new.digest.upper()))

    def test_verify_compares_in_constant_time(self) -> None:
        new = api_keys.generate_key()
        with mock.patch.object(api_keys.hmac, "compare_digest", wraps=hmac.compare_digest) as compare:
            self.assertTrue(api_keys.verify(new.plaintext, new.digest))
        compare.assert_called_once_with(new.digest, new.digest)


class KeyVerifyCostTestCase(TestCase):
    def test_one_verification_costs_under_50_microseconds(self) -> None:
        bench = load_bench()
        result = bench.measure(iterations=2_000, repeat=3)
        self.assertEqual(bench.BUDGET_US, 50.0)
        self.assertLess(result.verify_us, 50.0, bench.report(result))
        self.assertLess(result.verify_wrong_us, 50.0, bench.report(result))
        self.assertGreater(result.verify_us, 0)
        self.assertGreater(result.ratio_to_sha256, 0)

    def test_the_benchmark_reports_and_exits_zero_within_budget(self) -> None:
        result = subprocess.run(
            [sys.executable, str(BENCH), "--iterations", "1000", "--repeat", "2"],
            cwd="/",
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertRegex(result.stdout, r"verify \(right key\)\s+\d+\.\d+ µs per verification")
        self.assertIn("sha256(short)", result.stdout)

    def test_the_benchmark_fails_over_budget(self) -> None:
        bench = load_bench()
        slow = bench.Result(1, 1.0, 1.0, 50.0, 50.0, 1.0, 0.1, 1.0)
        self.assertFalse(slow.within_budget)
        with mock.patch.object(bench, "measure", return_value=slow), mock.patch("builtins.print"):
            self.assertEqual(bench.main([]), 1)
