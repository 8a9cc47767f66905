"""The benchmark: `make bench` (or `.venv/bin/python bench/run.py --help`).

1. (Re)creates the PostgreSQL database `capgo_bench`, migrates it and loads the data set
   (bench/generate.py);
2. starts gunicorn with the production settings on 127.0.0.1, and a second one alike on the next
   port for the peer (bench/peer: a plain DRF endpoint on the same data, the yardstick);
3. drives each endpoint with wrk at 16 and 64 connections, after a warm-up, rotating keys;
4. prints one table (requests/s, p50, p99, errors, ratios to /healthz and to the peer measured
   in the same run, the targets) and the gunicorn workers' RSS, and writes it all to
   bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"


@dataclass
class Endpoint:
    name: str
    label: str
    script: str
    keys: str  # which list of bench/results/keys.json the requests rotate through
    target: float | None  # minimum ratio to /healthz at 16 connections
    lines: list[tuple[str, str, str, str]] = field(default_factory=list)
    server: str = "app"  # "app" (the product) or "peer" (bench/peer: the plain DRF yardstick)
    items: int | None = None  # if set, the preflight's answer must be a JSON list of this many


def endpoints(keys: dict[str, list[list[str]]]) -> list[Endpoint]:
    def lines(kind: str, method: str, path: str, body: str = "") -> list[tuple[str, str, str, str]]:
        return [(method, path.format(org=org), key, body.format(org=org)) for key, org in keys[kind]]

    put_a = '{{"orgId": "{org}", "name": "Benchmarked A"}}'
    put_b = '{{"orgId": "{org}", "name": "Benchmarked B"}}'
    return [
        Endpoint("healthz", "GET /healthz", "rotate.lua", "", None, [("GET", "/healthz", "", "")]),
        # The yardstick: a plain DRF list of 20 organizations (bench/peer), same data, same gunicorn.
        Endpoint(
            "peer", "peer: plain DRF, 20 orgs", "rotate.lua", "list", None,
            lines("list", "GET", "/peer/organizations/"), server="peer", items=20,
        ),
        Endpoint(
            "org_get", "GET /organization/?orgId=", "rotate.lua", "read", 0.40,
            lines("read", "GET", "/organization/?orgId={org}"),
        ),
        Endpoint(
            "org_list", "GET /organization/ (50 orgs)", "rotate.lua", "list", 0.25,
            lines("list", "GET", "/organization/"),
        ),
        Endpoint(
            "members", "GET /organization/members/ (100)", "rotate.lua", "members", 0.20,
            lines("members", "GET", "/organization/members/?orgId={org}"),
        ),
        # Every PUT changes the name (A, then B, then A …), so each one writes and audits.
        Endpoint(
            "org_put", "PUT /organization/", "rotate.lua", "put", 0.15,
            lines("put", "PUT", "/organization/", put_a) + lines("put", "PUT", "/organization/", put_b),
        ),
        Endpoint(
            "invite_remove", "POST+DELETE /organization/members/", "invite_remove.lua", "invite", 0.15,
            lines("invite", "INVITE", "{org}"),
        ),
        Endpoint(
            "audit", "GET /organization/audit/?limit=50", "rotate.lua", "audit", None,
            lines("audit", "GET", "/organization/audit/?orgId={org}&limit=50"),
        ),
    ]  # fmt: skip


# Setup ------------------------------------------------------------------------------------


def server_env(args: argparse.Namespace) -> dict[str, str]:
    """Production settings, pointed at the benchmark's own database and Redis db."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_", "REDIS_"))}
    env.update(
        DEBUG="false",
        SECRET_KEY="bench-only-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJKLMNOP",
        ALLOWED_HOSTS="127.0.0.1",
        # wrk speaks plain HTTP: production's explicit opt-out. No checkout `.env` either.
        HTTPS="false",
        ENV_FILE="",
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        CONN_MAX_AGE="600",
        # The benchmark measures the work of a request, not the rate limiter's refusals.
        API_RATE_LIMIT_PER_MINUTE="1000000000",
        API_USER_RATE_LIMIT_PER_MINUTE="1000000000",
        AUTH_FAILURE_LIMIT_PER_MINUTE="1000000000",
        # Invitations are rendered as in production but not delivered anywhere.
        EMAIL_URL="dummymail://",
        LOG_LEVEL="WARNING",
    )
    for assignment in getattr(args, "env", None) or []:
        name, _, value = assignment.partition("=")
        env[name] = value
    return env


def prepare_database(args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    import psycopg

    name = urlsplit(args.database_url).path.lstrip("/")
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"unexpected database name {name!r}")
    started = time.perf_counter()
    try:
        admin = psycopg.connect(ADMIN_URL, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise SystemExit(f"PostgreSQL is not reachable at {ADMIN_URL}: {exc}") from None
    with admin as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if exists and not args.keep_db:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    print(f"Database {name}: migrating …", flush=True)
    subprocess.run([PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True)
    keys_file = RESULTS / "keys.json"
    if args.keep_db and exists and keys_file.exists():
        print("Keeping the existing data set (--keep-db).", flush=True)
    else:
        subprocess.run(
            [PYTHON, str(BENCH / "generate.py"), "--scale", args.scale, "--keys-out", str(keys_file)],
            cwd=ROOT, env=env, check=True,
        )  # fmt: skip
    return {"seconds": round(time.perf_counter() - started, 1)}


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


# How each server shows it is ready: (name, probe path, the status it answers once the workers serve).
# The product's health probe; the peer's one endpoint, which refuses a request without a key.
READY = {
    "capgo_org.wsgi": ("gunicorn", "/healthz", 200),
    "bench.peer.wsgi": ("gunicorn-peer", "/peer/organizations/", 403),
}


def start_gunicorn(
    args: argparse.Namespace, env: dict[str, str], app: str = "capgo_org.wsgi", port: int | None = None
) -> subprocess.Popen[bytes]:
    port = args.port if port is None else port
    name, probe, ready = READY[app]
    log = RESULTS / f"{name}.log"  # one each: the peer's errors do not land in the product's log
    command = [
        GUNICORN, app,
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers),
        "--worker-class", args.worker_class,
        "--threads", str(args.threads),
        "--backlog", "2048",
        "--log-level", "warning",
        "--error-logfile", str(log),
    ]  # fmt: skip
    if args.preload:
        command.append("--preload")
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)  # noqa: S603
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"{name} exited with {server.returncode}; see {log}")
        try:
            if call(port, "GET", probe)[0] == ready:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    stop(server)
    raise SystemExit(f"{name} did not answer {probe} with {ready} within 30 s; see {log}")


def stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def call(port: int, method: str, path: str, key: str = "", body: str = "") -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"authorization": key} if key else {}
    if body:
        headers["content-type"] = "application/json"
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


def preflight(port: int, endpoint: Endpoint) -> None:
    """One request of each kind must succeed before wrk hammers it (wrk counts only 4xx/5xx)."""
    method, path, key, body = endpoint.lines[0]
    if method == "INVITE":
        email = f"preflight-{time.time_ns()}@bench.test"
        checks = [
            ("POST", "/organization/members/", json.dumps({"orgId": path, "email": email, "role": "read"})),
            ("DELETE", f"/organization/members/?orgId={path}&email={email}", ""),
        ]
    else:
        checks = [(method, path, body)]
    for check_method, check_path, check_body in checks:
        status, content = call(port, check_method, check_path, key, check_body)
        if not 200 <= status < 300:
            raise SystemExit(f"{endpoint.label}: {check_method} {check_path} answered {status}: {content[:300]!r}")
        # The peer must do the work its label says (20 organizations), or every ratio to it is off.
        if endpoint.items is not None and len(json.loads(content)) != endpoint.items:
            raise SystemExit(f"{endpoint.label}: {len(json.loads(content))} items instead of {endpoint.items}")


# Load -------------------------------------------------------------------------------------


def port_of(args: argparse.Namespace, endpoint: Endpoint) -> int:
    return args.port + 1 if endpoint.server == "peer" else args.port


def run_wrk(args: argparse.Namespace, endpoint: Endpoint, connections: int, seconds: float) -> dict[str, Any]:
    spec = RESULTS / f"spec-{endpoint.name}.tsv"
    spec.write_text("".join("\t".join(line) + "\n" for line in endpoint.lines))
    out = RESULTS / f"wrk-{endpoint.name}-{connections}.json"
    out.unlink(missing_ok=True)
    threads = min(args.wrk_threads, connections)
    env = dict(
        os.environ,
        BENCH_SPEC=str(spec),
        BENCH_OUT=str(out),
        BENCH_THREADS=str(threads),
        BENCH_LAG=str(2 * connections // threads + 16),
        BENCH_TAG=f"{time.time_ns():x}",
    )
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "5s",
        "-s", str(BENCH / endpoint.script), f"http://127.0.0.1:{port_of(args, endpoint)}",
    ]  # fmt: skip
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    return json.loads(out.read_text())


def measure(args: argparse.Namespace, endpoint: Endpoint, connections: int) -> dict[str, Any]:
    if args.warmup > 0:
        run_wrk(args, endpoint, connections, args.warmup)
    raw = run_wrk(args, endpoint, connections, args.duration)
    errors = sum(raw["errors"].values())
    seconds = raw["duration_us"] / 1e6
    row = {
        "endpoint": endpoint.name,
        "label": endpoint.label,
        "connections": connections,
        "requests": raw["requests"],
        "rps": round(raw["requests"] / seconds, 1),
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(raw["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(raw["latency_us"]["max"] / 1000, 2),
        "errors": errors,
        "error_kinds": {k: v for k, v in raw["errors"].items() if v},
    }
    row["p99_over_p50"] = round(row["p99_ms"] / row["p50_ms"], 2) if row["p50_ms"] else None
    print(
        f"  {endpoint.label:<38} c={connections:<3} {row['rps']:>8.1f} req/s  p50 {row['p50_ms']:>7.2f} ms  "
        f"p99 {row['p99_ms']:>7.2f} ms  errors {errors}",
        flush=True,
    )
    return row


def worker_rss_mb(master_pid: int) -> list[float]:
    """VmRSS of each gunicorn worker (the master's children), in MB."""
    sizes = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) != master_pid:
                continue
            status = (stat.parent / "status").read_text()
        except (OSError, IndexError, ValueError):
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                sizes.append(round(int(line.split()[1]) / 1024, 1))
    return sorted(sizes)


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    mem_kb = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in line)
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
    }


# Report -----------------------------------------------------------------------------------


def judge(rows: list[dict[str, Any]], endpoints_: list[Endpoint]) -> list[str]:
    """Which targets are missed (empty: all met)."""
    targets = {e.name: e.target for e in endpoints_}
    missed = []
    for row in rows:
        target = targets.get(row["endpoint"])
        if row["connections"] == 16 and target is not None and row["ratio"] < target:
            missed.append(f"{row['label']} at 16: ratio {row['ratio']:.2f} < {target:.2f}")
        if row["p99_over_p50"] is not None and row["p99_over_p50"] > 4:
            missed.append(f"{row['label']} at {row['connections']}: p99 {row['p99_over_p50']:.1f} × p50 > 4")
        if row["errors"]:
            missed.append(f"{row['label']} at {row['connections']}: {row['errors']} errors {row['error_kinds']}")
    return missed


def table(rows: list[dict[str, Any]], endpoints_: list[Endpoint]) -> str:
    targets = {e.name: e.target for e in endpoints_}
    header = (
        "| endpoint | conns | req/s | p50 ms | p99 ms | p99/p50 | errors | ratio to /healthz | ratio to peer "
        "| target (16) |"
    )
    lines = [header, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for row in rows:
        target = targets.get(row["endpoint"])
        lines.append(
            f"| {row['label']} | {row['connections']} | {row['rps']:.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
            f"| {row['p99_over_p50']:.1f} | {row['errors']} | {row['ratio']:.2f} | {row['ratio_to_peer']:.2f} "
            f"| {f'≥ {target:.2f}' if target is not None and row['connections'] == 16 else ''} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", choices=["small", "default", "large"], default="default")
    parser.add_argument("--duration", type=float, default=8, help="seconds of each measured wrk run")
    parser.add_argument("--warmup", type=float, default=2, help="seconds of the warm-up before each run")
    parser.add_argument("--connections", default="16,64", help="comma-separated connection counts")
    parser.add_argument("--only", default="", help="comma-separated endpoint names (healthz always runs)")
    # Sync workers, one more than the cores: see bench/README.md for the measurements behind it.
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 2) + 1)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--worker-class", default="sync")
    parser.add_argument("--preload", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/capgo_bench")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument(
        "--env", action="append", metavar="NAME=VALUE", help="extra server setting, e.g. DB_PREPARED_STATEMENTS=false"
    )
    parser.add_argument("--keep-db", action="store_true", help="reuse capgo_bench and its data if present")
    parser.add_argument("--output", type=Path, default=RESULTS / "latest.json")
    args = parser.parse_args()

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk (make bench does it)")
    RESULTS.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    info = machine()
    env = server_env(args)
    setup = prepare_database(args, env)
    flush_redis(args.redis_url)
    keys = json.loads((RESULTS / "keys.json").read_text())
    chosen = endpoints(keys)
    if args.only:
        wanted = {"healthz", "peer", *args.only.split(",")}
        chosen = [e for e in chosen if e.name in wanted]
    connection_counts = [int(c) for c in args.connections.split(",")]

    server = start_gunicorn(args, env)
    peer_env = dict(env, DJANGO_SETTINGS_MODULE="bench.peer.settings")
    try:
        peer = start_gunicorn(args, peer_env, app="bench.peer.wsgi", port=args.port + 1)
    except BaseException:
        stop(server)
        raise
    rows: list[dict[str, Any]] = []
    try:
        for endpoint in chosen:
            preflight(port_of(args, endpoint), endpoint)
        for connections in connection_counts:
            print(f"wrk, {connections} connections, {args.warmup:g} s warm-up + {args.duration:g} s:", flush=True)
            baseline = [measure(args, chosen[0], connections)]
            measured = [measure(args, e, connections) for e in chosen[1:]]
            # /healthz again after the others: the ratio uses the mean of both, so a drift in the
            # machine's load during the run (other processes) cancels out instead of skewing it.
            baseline.append(measure(args, chosen[0], connections))
            base = dict(baseline[0])
            base["rps"] = round(sum(b["rps"] for b in baseline) / 2, 1)
            base["baseline_rps"] = [b["rps"] for b in baseline]
            peer_rps = next(row["rps"] for row in measured if row["endpoint"] == "peer")
            for row in [base, *measured]:
                row["ratio"] = round(row["rps"] / base["rps"], 3)
                row["ratio_to_peer"] = round(row["rps"] / peer_rps, 3)
            rows += [base, *measured]
        rss = worker_rss_mb(server.pid)
    finally:
        stop(server)
        stop(peer)

    missed = judge(rows, chosen)
    if any(mb >= 150 for mb in rss):
        missed.append(f"worker RSS {max(rss):.0f} MB ≥ 150 MB")
    report = {
        "machine": info,
        "config": {
            "scale": args.scale,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "gunicorn": {
                "workers": args.workers,
                "threads": args.threads,
                "worker_class": args.worker_class,
                "preload": args.preload,
            },
            "wrk_threads": args.wrk_threads,
            "server_env": args.env or [],
        },
        "setup": setup,
        "rows": rows,
        "worker_rss_mb": rss,
        "missed_targets": missed,
        "load_after": [round(x, 2) for x in os.getloadavg()],
        "seconds": round(time.perf_counter() - started, 1),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(table(rows, chosen))
    print()
    print(
        f"gunicorn: {args.workers} × {args.worker_class} worker(s), {args.threads} thread(s); "
        f"worker RSS after the run: {', '.join(f'{mb:.0f}' for mb in rss)} MB (limit 150)"
    )
    print(
        f"machine: {info['nproc']} × {info['cpu']}, {info['ram_gb']} GB RAM; load {info['load_before']} before, "
        f"{report['load_after']} after; {report['seconds']:.0f} s in all"
    )
    print("All targets met." if not missed else "Targets missed:\n  " + "\n  ".join(missed))
    print(f"Written to {args.output}")


if __name__ == "__main__":
    sys.exit(main())
