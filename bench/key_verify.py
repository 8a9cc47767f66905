"""Micro-benchmark: what one API key verification costs (SHA-256 of the presented key, constant-time compare).

Plain Python, no Django: it imports `organizations.api_keys` only. Baselines measured in the same
run (a dict lookup, and hashlib.sha256 of a short string) make the figures comparable across
machines. Exits 1 if one verification costs BUDGET_US or more.

    python bench/key_verify.py [--iterations N] [--repeat R]
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from organizations import api_keys  # noqa: E402

BUDGET_US = 50.0


@dataclass(frozen=True)
class Result:
    iterations: int
    generate_us: float  # a new key: random lookup + secret + its digest
    hash_us: float  # the digest of a presented key
    verify_us: float  # the whole check of a right key
    verify_wrong_us: float  # the whole check of a wrong key (must cost the same: constant time)
    parse_us: float  # finding the lookup part in a presented key
    dict_lookup_us: float  # baseline
    sha256_short_us: float  # baseline

    @property
    def ratio_to_sha256(self) -> float:
        return self.verify_us / self.sha256_short_us

    @property
    def ratio_to_dict_lookup(self) -> float:
        return self.verify_us / self.dict_lookup_us

    @property
    def within_budget(self) -> bool:
        return self.verify_us < BUDGET_US


def _best_us(fn: Callable[[], object], iterations: int, repeat: int) -> float:
    """The best of `repeat` runs, in µs per call: the least disturbed by other work on the machine."""
    return min(timeit.repeat(fn, number=iterations, repeat=repeat)) / iterations * 1e6


def measure(iterations: int = 200_000, repeat: int = 5) -> Result:
    key = api_keys.generate_key()
    wrong = api_keys.generate_key().plaintext
    plaintext, digest = key.plaintext, key.digest
    table = {key.lookup: digest}
    lookup = key.lookup
    verify, hash_key, parse_lookup = api_keys.verify, api_keys.hash_key, api_keys.parse_lookup
    assert verify(plaintext, digest) and not verify(wrong, digest)
    # Generating draws from the OS random source: fewer iterations keep the run short.
    generate_iterations = max(1, iterations // 10)
    return Result(
        iterations=iterations,
        generate_us=_best_us(api_keys.generate_key, generate_iterations, repeat),
        hash_us=_best_us(lambda: hash_key(plaintext), iterations, repeat),
        verify_us=_best_us(lambda: verify(plaintext, digest), iterations, repeat),
        verify_wrong_us=_best_us(lambda: verify(wrong, digest), iterations, repeat),
        parse_us=_best_us(lambda: parse_lookup(plaintext), iterations, repeat),
        dict_lookup_us=_best_us(lambda: table[lookup], iterations, repeat),
        sha256_short_us=_best_us(lambda: hashlib.sha256(b"capgo").hexdigest(), iterations, repeat),
    )


def report(result: Result) -> str:
    return "\n".join(
        [
            f"API key verification micro-benchmark ({result.iterations} iterations, best of the runs)",
            f"  generate a key          {result.generate_us:8.3f} µs",
            f"  parse the lookup part   {result.parse_us:8.3f} µs",
            f"  hash a presented key    {result.hash_us:8.3f} µs",
            f"  verify (right key)      {result.verify_us:8.3f} µs per verification",
            f"  verify (wrong key)      {result.verify_wrong_us:8.3f} µs per verification",
            f"  baseline: dict lookup   {result.dict_lookup_us:8.3f} µs",
            f"  baseline: sha256(short) {result.sha256_short_us:8.3f} µs",
            f"  verification = {result.ratio_to_sha256:.1f}x sha256(short),"
            f" {result.ratio_to_dict_lookup:.0f}x a dict lookup",
            f"  budget: < {BUDGET_US:.0f} µs per verification: {'OK' if result.within_budget else 'OVER BUDGET'}",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    result = measure(args.iterations, args.repeat)
    print(report(result))
    return 0 if result.within_budget else 1


if __name__ == "__main__":
    sys.exit(main())
