"""Profile the benchmark's requests in-process, against the benchmark's database.

    .venv/bin/python bench/profile_request.py                 # CPU ms per request, every endpoint
    .venv/bin/python bench/profile_request.py org_get --profile   # + a pyinstrument profile of one

Requests go through Django's WSGI handler exactly as gunicorn calls it (all middleware, no
network), with the production settings of bench/run.py. It needs the data set that
`bench/run.py` (or `bench/run.py --keep-db`) left in capgo_bench and bench/results/keys.json.
The figures are CPU time of this process per request (time.process_time), which other load on
the machine does not inflate, plus wall time; database time shows in the wall time only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from itertools import count, cycle
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from run import server_env  # noqa: E402

Request = tuple[str, str, str, str]  # method, path (with query), key, body


def requests_for(name: str, keys: dict[str, list[list[str]]]) -> Iterator[Request]:
    """An endless, rotating stream of the requests the benchmark sends for `name`."""
    if name == "healthz":
        return cycle([("GET", "/healthz", "", "")])
    if name == "org_get":
        return cycle([("GET", f"/organization/?orgId={org}", key, "") for key, org in keys["read"]])
    if name == "org_list":
        return cycle([("GET", "/organization/", key, "") for key, _org in keys["list"]])
    if name == "members":
        return cycle([("GET", f"/organization/members/?orgId={org}", key, "") for key, org in keys["members"]])
    if name == "audit":
        return cycle([("GET", f"/organization/audit/?orgId={org}&limit=50", key, "") for key, org in keys["audit"]])
    if name == "org_put":
        # Each organization's name alternates from one round of the keys to the next, so that every
        # PUT writes (as in bench/run.py); by `n % 2` each organization would get the same name each time.
        rounds = len(keys["put"])
        return (
            ("PUT", "/organization/", key, json.dumps({"orgId": org, "name": f"Profiled {n // rounds % 2}"}))
            for n, (key, org) in zip(count(), cycle(keys["put"]), strict=False)
        )
    if name == "invite_remove":
        tag = time.time_ns()

        def alternate() -> Iterator[Request]:
            for n, (key, org) in zip(count(), cycle(keys["invite"]), strict=False):
                email = f"profile-{tag}-{n}@bench.test"
                yield (
                    "POST",
                    "/organization/members/",
                    key,
                    json.dumps({"orgId": org, "email": email, "role": "read"}),
                )
                yield ("DELETE", f"/organization/members/?orgId={org}&email={email}", key, "")

        return alternate()
    raise SystemExit(f"unknown endpoint {name}")


ENDPOINTS = ["healthz", "org_get", "org_list", "members", "org_put", "invite_remove", "audit"]


def make_caller() -> Callable[[Request], int]:
    from django.core.wsgi import get_wsgi_application

    app = get_wsgi_application()

    def call(request: Request) -> int:
        method, path, key, body = request
        path_info, _, query = path.partition("?")
        data = body.encode()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path_info,
            "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8765",
            "HTTP_HOST": "127.0.0.1:8765",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(data),
            "wsgi.errors": sys.stderr,
            "CONTENT_LENGTH": str(len(data)) if data else "",
        }
        if key:
            environ["HTTP_AUTHORIZATION"] = key
        if data:
            environ["CONTENT_TYPE"] = "application/json"
        status: list[str] = []
        chunks = app(environ, lambda s, headers, exc_info=None: status.append(s))
        b"".join(chunks)
        if hasattr(chunks, "close"):
            chunks.close()
        code = int(status[0].split()[0])
        if not 200 <= code < 300:
            raise SystemExit(f"{method} {path} answered {status[0]}")
        return code

    return call


def timed(call: Callable[[Request], int], stream: Iterator[Request], n: int) -> tuple[float, float]:
    """(CPU ms, wall ms) per request over n requests."""
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(n):
        call(next(stream))
    return (time.process_time() - cpu) * 1000 / n, (time.perf_counter() - wall) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("endpoints", nargs="*", default=ENDPOINTS, help=f"some of {', '.join(ENDPOINTS)}")
    parser.add_argument("-n", type=int, default=300, help="requests timed per endpoint")
    parser.add_argument("--profile", action="store_true", help="print a pyinstrument profile of each endpoint")
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/capgo_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    args = parser.parse_args()

    os.environ.update(server_env(args))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "capgo_org.settings")
    import django

    django.setup()
    keys = json.loads((ROOT / "bench" / "results" / "keys.json").read_text())
    call = make_caller()
    print(f"{'endpoint':<15} {'CPU ms/req':>10} {'wall ms/req':>11}")
    for name in args.endpoints:
        stream = requests_for(name, keys)
        # Warm-up: connections, imports, and every key's last_used_at write of this minute.
        timed(call, stream, 30 + max(len(v) for v in keys.values()))
        cpu, wall = timed(call, stream, args.n)
        print(f"{name:<15} {cpu:>10.3f} {wall:>11.3f}", flush=True)
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.0002)
            with profiler:
                timed(call, stream, args.n)
            print(profiler.output_text(unicode=True, color=False, show_all=False, short_mode=False))


if __name__ == "__main__":
    main()
