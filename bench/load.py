"""Load test: mixed API traffic against gunicorn on 127.0.0.1, bounded in time.

    .venv/bin/python bench/load.py [--seconds 60] [--clients 32] [--keys 4] [--workers 4]
        [--database-url postgres://postgres@127.0.0.1:5432/capgo_load | sqlite:////tmp/load.sqlite3]
        [--redis-url redis://127.0.0.1:6379/13] [--limit 1200] [--low-limit 60]

It creates (or re-creates) the database, migrates it, makes one user and key per `--keys`,
starts gunicorn (`--workers`, Redis as the shared cache), and runs `--clients` threads for
`--seconds`. Client i uses key i % keys. Key 0 is "a script gone wrong": its own limit is low
(`--low-limit` a minute, through API_RATE_LIMIT_OVERRIDES) and its clients send as fast as they
can, so it must get 429s. The other keys have the default limit (`--limit`) and their clients
pace themselves to half of it, so they must never see a 429. Every client mixes reads
(organization list and detail, members, audit log, key list) with writes (create, rename and
delete organizations, invite and remove members). Then bench/check_consistency.py checks the
audit log against the rows.

Exit status 0 only if: no 5xx, key 0 got 429s, no other key got a 429, and the audit log is
consistent. `make load` runs it (`make load LOAD_SECONDS=15` for a short run). PostgreSQL is
used when it answers at 127.0.0.1:5432 (database `capgo_load`, dropped and re-created), else a
SQLite file.

The server helpers here (`Gunicorn`, `prepare_database`, `call`) are also used by the tests
that need a real multi-process server.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
SECRET_KEY = "load-and-test-only-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGH"


# Server helpers ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    """Production settings for a subprocess: DEBUG off, a secret key, this host only, plain HTTP.

    Plain HTTP is production's explicit opt-out (HTTPS=false), as in make run's `.env`; no
    `.env` is read (ENV_FILE empty), whether or not `make run` ran in this checkout.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    env.update(
        DEBUG="false",
        SECRET_KEY=SECRET_KEY,
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        REDIS_URL="",
        HTTPS="false",
        ENV_FILE="",
        EMAIL_URL="dummymail://",
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def manage(*args: str, env: dict[str, str], timeout: float = 120) -> str:
    """Run manage.py with `env`; its standard output, or an error carrying both outputs."""
    result = subprocess.run(
        [PYTHON, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


@cache
def _migrated_sqlite_template() -> Path:
    """One migrated SQLite file per process, copied for each server (migrating costs over a second)."""
    path = Path(tempfile.mkdtemp(prefix="capgo-template-")) / "template.sqlite3"
    manage("migrate", "--noinput", "-v", "0", env=server_env(f"sqlite:///{path}"))
    return path


@cache
def collected_static() -> Path:
    """The static files, collected once per process: pages rendered with DEBUG off need their manifest."""
    path = Path(tempfile.mkdtemp(prefix="capgo-static-"))
    manage("collectstatic", "--noinput", "-v", "0", env=server_env("sqlite://:memory:", STATIC_ROOT=str(path)))
    return path


def prepare_database(database_url: str) -> None:
    """An empty, migrated database at `database_url` (SQLite file or PostgreSQL database)."""
    parts = urlsplit(database_url)
    if parts.scheme == "sqlite":
        target = Path(parts.path)
        for suffix in ("", "-wal", "-shm", "-journal", "-ratelimit", "-ratelimit-wal", "-ratelimit-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(_migrated_sqlite_template(), target)
        return
    import psycopg

    name = parts.path.lstrip("/")
    admin_url = parts._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
    with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    manage("migrate", "--noinput", "-v", "0", env=server_env(database_url))


def create_keys(database_url: str, emails: list[str], env_extra: dict[str, str] | None = None) -> list[tuple[int, str]]:
    """One user and one `all` key per email: (key id, plaintext key), in order."""
    script = (
        "from accounts.verification import mark_verified\n"
        "from organizations import services\n"
        "from organizations.models import User\n"
        f"for email in {emails!r}:\n"
        "    user = User.objects.filter(email=email).first() or User.objects.create_user(email, 'load-pass-123')\n"
        "    mark_verified(user)\n"
        "    key, plaintext = services.api_key_create(actor=None, user=user, name='load')\n"
        "    print('KEY', key.pk, plaintext)\n"
    )
    out = manage("shell", "-v", "0", "-c", script, env=server_env(database_url, **(env_extra or {})))
    return [(int(line.split()[1]), line.split()[2]) for line in out.splitlines() if line.startswith("KEY ")]


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    port: int,
    method: str,
    path: str,
    key: str | None = None,
    body: Any = None,
    query: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30,
) -> Reply:
    """One request on a new connection (so that every worker gets its share of connections)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        sent = dict(headers or {})
        if key:
            sent["authorization"] = key
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent["content-type"] = "application/json"
        conn.request(method, path + ("?" + urlencode(query) if query else ""), body=payload, headers=sent)
        response = conn.getresponse()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


class Gunicorn:
    """gunicorn on 127.0.0.1:<free port> as a subprocess; output (error and access logs) kept in a file.

    The access log line is `<pid> <status> "<request line>"`, so a test can see which worker
    answered.
    """

    ACCESS_FORMAT = '%(p)s %(s)s "%(r)s"'

    def __init__(
        self, env: dict[str, str], workers: int = 2, extra_args: tuple[str, ...] = (), access_format: str = ""
    ) -> None:
        self.env = env
        self.access_format = access_format or self.ACCESS_FORMAT
        self.workers = workers
        self.extra_args = extra_args
        self.port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="gunicorn-", suffix=".log")[1])
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Gunicorn:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, ready_timeout: float = 30) -> None:
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [
                    GUNICORN, "capgo_org.wsgi", "--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers),
                    "--access-logfile", "-", "--access-logformat", self.access_format, "--error-logfile", "-",
                    "--graceful-timeout", "5", *self.extra_args,
                ],
                cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.output()}")
            try:
                call(self.port, "GET", "/organization/", timeout=5)
                break
            except OSError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"gunicorn did not answer within {ready_timeout} s:\n{self.output()}")
        self._wait_for_every_worker(deadline)

    def _wait_for_every_worker(self, deadline: float) -> None:
        """Return once each worker has answered (its app loaded), so that a test's burst can reach them all.

        Only when the access log names the worker; concurrent probes, so that a busy worker
        leaves the next one to another.
        """
        if "%(p)s" not in self.access_format:
            return
        while len(self.access_pids()) < self.workers and time.monotonic() < deadline:
            probes = [threading.Thread(target=call, args=(self.port, "GET", "/healthz")) for _ in range(self.workers)]
            for probe in probes:
                probe.start()
            for probe in probes:
                probe.join()
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def access_pids(self) -> Counter[str]:
        """How many requests each worker process answered, from the access log."""
        pids: Counter[str] = Counter()
        for line in self.output().splitlines():
            first, _, rest = line.partition(" ")
            if first.startswith("<") and first.endswith(">") and rest[:3].isdigit():
                pids[first.strip("<>")] += 1
        return pids


# The load ----------------------------------------------------------------------------------


@dataclass
class Stats:
    statuses: dict[int, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, key_index: int, status: int, seconds: float, what: str) -> None:
        with self.lock:
            self.statuses[key_index][status] += 1
            self.latencies.append(seconds)
            if status >= 500 and len(self.failures) < 20:
                self.failures.append(f"{status} {what}")


class Client(threading.Thread):
    """One simulated integration: a key, an organization it shares with its key's other clients."""

    def __init__(self, n: int, port: int, key_index: int, key: str, base_org: str, pace: float, stop: float) -> None:
        super().__init__(daemon=True)
        self.n, self.port, self.key_index, self.key, self.base_org = n, port, key_index, key, base_org
        self.pace, self.stop_at = pace, stop
        self.rng = random.Random(n)
        self.own_orgs: list[str] = []
        self.invited: list[str] = []
        self.stats: Stats

    def send(self, method: str, path: str, **kwargs: Any) -> Reply | None:
        started = time.monotonic()
        try:
            reply = call(self.port, method, path, key=self.key, **kwargs)
        except OSError as exc:
            with self.stats.lock:
                self.stats.statuses[self.key_index][599] += 1
                self.stats.failures.append(f"{method} {path}: {exc!r}")
            return None
        self.stats.add(self.key_index, reply.status, time.monotonic() - started, f"{method} {path}")
        return reply

    def step(self) -> None:
        org = self.rng.choice(self.own_orgs) if self.own_orgs and self.rng.random() < 0.5 else self.base_org
        roll = self.rng.random()
        if roll < 0.25:
            self.send("GET", "/organization/", query={"limit": 20})
        elif roll < 0.40:
            self.send("GET", "/organization/", query={"orgId": org})
        elif roll < 0.55:
            self.send("GET", "/organization/members/", query={"orgId": org})
        elif roll < 0.60:
            self.send("GET", "/organization/audit/", query={"orgId": org, "limit": 20})
        elif roll < 0.65:
            self.send("GET", "/apikey/")
        elif roll < 0.72:
            self.send("PUT", "/organization/", body={"orgId": org, "name": f"Renamed {self.rng.randrange(10**6)}"})
        elif roll < 0.81:
            email = f"c{self.n}-{self.rng.randrange(10**9)}@load.example"
            reply = self.send("POST", "/organization/members/", body={"orgId": org, "email": email, "role": "read"})
            if reply is not None and reply.status == 200:
                self.invited.append(f"{org} {email}")
        elif roll < 0.88 and self.invited:
            org_id, email = self.invited.pop(self.rng.randrange(len(self.invited))).split()
            self.send("DELETE", "/organization/members/", query={"orgId": org_id, "email": email})
        elif roll < 0.95 or not self.own_orgs:
            reply = self.send("POST", "/organization/", body={"name": f"Load org {self.n}-{self.rng.randrange(10**6)}"})
            if reply is not None and reply.status == 201:
                self.own_orgs.append(reply.json()["id"])
        else:
            victim = self.own_orgs.pop(self.rng.randrange(len(self.own_orgs)))
            self.invited = [i for i in self.invited if not i.startswith(victim + " ")]
            self.send("DELETE", "/organization/", query={"orgId": victim})

    def run(self) -> None:
        next_at = time.monotonic()
        while time.monotonic() < self.stop_at:
            if self.pace:
                next_at += self.pace
                delay = next_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                if time.monotonic() >= self.stop_at:
                    break
            self.step()


def percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def default_database_url() -> str:
    url = "postgres://postgres@127.0.0.1:5432/capgo_load"
    try:
        import psycopg

        psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", connect_timeout=3).close()
        return url
    except Exception:
        return f"sqlite:///{tempfile.gettempdir()}/capgo-load.sqlite3"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--keys", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--limit", type=int, default=1200, help="the default limit (every key but the first)")
    parser.add_argument("--low-limit", type=int, default=60, help="the first key's own limit (requests a minute)")
    parser.add_argument("--database-url", default=os.environ.get("LOAD_DATABASE_URL") or default_database_url())
    parser.add_argument("--redis-url", default=os.environ.get("LOAD_REDIS_URL", "redis://127.0.0.1:6379/13"))
    args = parser.parse_args()

    print(f"database {args.database_url}, redis {args.redis_url}, {args.workers} gunicorn workers")
    prepare_database(args.database_url)
    keys = create_keys(args.database_url, [f"load{i}@load.example" for i in range(args.keys)])
    env = server_env(
        args.database_url,
        REDIS_URL=args.redis_url,
        CACHE_KEY_PREFIX=f"load-{secrets.token_hex(4)}",  # a fresh set of counters in the shared Redis
        API_RATE_LIMIT_PER_MINUTE=str(args.limit),
        # One key per user: the user's ceiling is the key's limit, so the keys' limits are what is tested.
        API_USER_RATE_LIMIT_PER_MINUTE=str(args.limit),
        API_RATE_LIMIT_OVERRIDES=f"{keys[0][0]}={args.low_limit}",
    )
    stats = Stats()
    with Gunicorn(env, workers=args.workers) as server:
        base_orgs = []
        for i, (_id, key) in enumerate(keys):
            reply = call(server.port, "POST", "/organization/", key=key, body={"name": f"Load base {i}"})
            assert reply.status == 201, reply.body
            base_orgs.append(reply.json()["id"])
        per_key = max(1, args.clients // args.keys)
        # A paced key's clients together send at most half its limit: no fixed window can overflow.
        pace = 60.0 / (args.limit * 0.5 / per_key)
        stop = time.monotonic() + args.seconds
        clients = []
        for n in range(args.clients):
            k = n % args.keys
            client = Client(n, server.port, k, keys[k][1], base_orgs[k], 0.0 if k == 0 else pace, stop)
            client.stats = stats
            clients.append(client)
        started = time.monotonic()
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        elapsed = time.monotonic() - started
        workers_seen = len(server.access_pids())

    total = sum(sum(c.values()) for c in stats.statuses.values())
    five_xx = sum(n for c in stats.statuses.values() for status, n in c.items() if status >= 500)
    print(f"\n{total} requests in {elapsed:.1f} s: {total / elapsed:.0f} req/s; {workers_seen} workers answered")
    print(
        f"latency p50 {percentile(stats.latencies, 50) * 1000:.1f} ms, p95 {percentile(stats.latencies, 95) * 1000:.1f}"
        f" ms, p99 {percentile(stats.latencies, 99) * 1000:.1f} ms"
    )
    for k in sorted(stats.statuses):
        if k == 0:
            label = f"unpaced, own limit {args.low_limit}/min: must get 429s"
        else:
            label = f"paced to half of {args.limit}/min: must never get 429"
        print(f"key {k} [{label}]: {dict(sorted(stats.statuses[k].items()))}")
    for failure in stats.failures:
        print("  5xx/failure:", failure)

    ok = True
    if five_xx:
        print(f"FAIL: {five_xx} responses were 5xx or failed")
        ok = False
    if not stats.statuses[0][429]:
        print("FAIL: the rate-limited key never got a 429")
        ok = False
    allowed = sum(n for status, n in stats.statuses[0].items() if status != 429)
    windows = int(elapsed // 60) + 2  # the clock minutes the run touched, at most
    if allowed > args.low_limit * windows:
        print(f"FAIL: the rate-limited key got {allowed} answers in at most {windows} windows of {args.low_limit}")
        ok = False
    if any(stats.statuses[k][429] for k in stats.statuses if k != 0):
        print("FAIL: a paced key got a 429")
        ok = False

    check = subprocess.run(
        [PYTHON, str(ROOT / "bench" / "check_consistency.py")], env=server_env(args.database_url), cwd=ROOT
    )
    if check.returncode != 0:
        ok = False
    print("\nOK" if ok else "\nFAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
