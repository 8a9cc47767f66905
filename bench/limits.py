"""What the limits let through across gunicorn workers, with the production defaults.

    .venv/bin/python bench/limits.py [--workers 2] [--threads 8] [--redis-url redis://127.0.0.1:6379/10]

gunicorn (`--workers`) on a fresh SQLite file, as make run serves it: no Redis unless
`--redis-url` is given, and the production limits (100 requests a minute per key, 200 per user
across their keys, 100 keys per user). Within one clock minute, `--threads` clients send:

1. 300 requests with one key: the key's limit should let 100 through;
2. 600 requests over three keys of one user: the user's ceiling should let 200 through;
3. 150 key creations at once by a user who holds 3 keys (through those 3): the cap, 97.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import Gunicorn, call, create_keys, prepare_database, server_env  # noqa: E402


def burst(port: int, threads: int, requests: list[dict[str, Any]]) -> Counter[int]:
    with ThreadPoolExecutor(threads) as pool:
        return Counter(reply.status for reply in pool.map(lambda kwargs: call(port, **kwargs), requests))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--redis-url", default="")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="capgo-limits-"))
    try:
        database_url = f"sqlite:///{tmp / 'db.sqlite3'}"
        prepare_database(database_url)
        emails = ["one@example.org", *["three@example.org"] * 3, *["creator@example.org"] * 3]
        keys = [key for _id, key in create_keys(database_url, emails)]
        one, three, creators = keys[0], keys[1:4], keys[4:7]
        env = server_env(database_url, REDIS_URL=args.redis_url, CACHE_KEY_PREFIX=f"limits-{secrets.token_hex(4)}")
        store = f"Redis at {args.redis_url}" if args.redis_url else "no Redis (the SQLite default)"
        print(f"gunicorn, {args.workers} workers, {store}, {args.threads} client threads")
        with Gunicorn(env, workers=args.workers) as server:
            if time.time() % 60 > 40:  # the three bursts share one clock minute
                time.sleep(60.5 - time.time() % 60)
            get = {"method": "GET", "path": "/organization/"}
            statuses = burst(server.port, args.threads, [{**get, "key": one}] * 300)
            print(f"1. one key, 300 requests (limit 100 a minute): {dict(sorted(statuses.items()))}")
            statuses = burst(server.port, args.threads, [{**get, "key": three[n % 3]} for n in range(600)])
            print(f"2. three keys of one user, 600 requests (ceiling 200 a minute): {dict(sorted(statuses.items()))}")
            creations = [
                {"method": "POST", "path": "/apikey/", "key": creators[n % 3], "body": {"name": f"k{n}"}}
                for n in range(150)
            ]
            statuses = burst(server.port, args.threads, creations)
            print(f"3. 150 key creations, 3 keys held (cap 100): {dict(sorted(statuses.items()))}")
            print(f"   workers that answered: {len(server.access_pids())}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
