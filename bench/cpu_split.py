"""Where the machine's CPU goes while wrk drives one endpoint: by process, per request.

    .venv/bin/python bench/cpu_split.py                       # every endpoint, 16 connections
    .venv/bin/python bench/cpu_split.py org_get invite_remove --seconds 8

It reuses the data set that `bench/run.py` left in capgo_bench (run that first), starts the same
gunicorn with the same production settings, and for each endpoint reads the CPU time of every
process on the machine (utime + stime from /proc/<pid>/stat) before and after a wrk run, after a
warm-up. It prints microseconds of CPU per request for gunicorn (its workers: the application,
and gunicorn's own HTTP handling), PostgreSQL (the backends serving it), Redis, everything else
(wrk itself, the kernel's share shows in `busy`) and the machine's idle time. An endpoint's
ratio to /healthz in `make bench` is, near enough, /healthz's `busy` over the endpoint's.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

import run  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
ENDPOINTS = ["healthz", "org_get", "org_list", "members", "org_put", "invite_remove", "audit"]


def _kind(pid_dir: Path, comm: str) -> str:
    try:
        command = (pid_dir / "cmdline").read_bytes()
    except OSError:
        return "other"
    if b"gunicorn" in command:
        return "gunicorn"
    if comm.startswith("postgres"):
        return "postgres"
    if comm.startswith("redis"):
        return "redis"
    return "other"


def snapshot() -> tuple[dict[str, tuple[str, int]], list[int]]:
    """CPU ticks used so far by each process (with its kind), and the machine's counters."""
    processes = {}
    for pid_dir in Path("/proc").glob("[0-9]*"):
        try:
            stat = (pid_dir / "stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2 :].split()
        processes[pid_dir.name] = (_kind(pid_dir, comm), int(fields[11]) + int(fields[12]))
    with open("/proc/stat") as machine:
        counters = [int(n) for n in machine.readline().split()[1:]]
    return processes, counters


def split(before: tuple[dict[str, tuple[str, int]], list[int]], after: tuple[dict[str, tuple[str, int]], list[int]],
          requests: int) -> dict[str, float]:  # fmt: skip
    """Microseconds of CPU per request, by kind, between two snapshots."""
    per_kind: dict[str, int] = {}
    for pid, (kind, ticks) in after[0].items():
        per_kind[kind] = per_kind.get(kind, 0) + ticks - before[0].get(pid, (kind, 0))[1]
    total = sum(after[1]) - sum(before[1])
    idle = (after[1][3] + after[1][4]) - (before[1][3] + before[1][4])  # idle + iowait
    per_kind.update(busy=total - idle, idle=idle)
    return {kind: ticks / TICKS * 1e6 / requests for kind, ticks in per_kind.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("endpoints", nargs="*", default=ENDPOINTS, help=f"some of {', '.join(ENDPOINTS)}")
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    settings = argparse.Namespace(
        workers=(os.cpu_count() or 2) + 1, threads=1, worker_class="sync", preload=True, wrk_threads=2,
        port=args.port, database_url="postgres://postgres@127.0.0.1:5432/capgo_bench",
        redis_url="redis://127.0.0.1:6379/12", env=[],
    )  # fmt: skip
    keys_file = run.RESULTS / "keys.json"
    if not keys_file.exists():
        raise SystemExit("No data set: run `make bench` (or bench/run.py) first.")
    by_name = {endpoint.name: endpoint for endpoint in run.endpoints(json.loads(keys_file.read_text()))}
    server = run.start_gunicorn(settings, run.server_env(settings))
    try:
        print(f"{'endpoint':<15} {'req/s':>7}  CPU µs per request: gunicorn postgres redis other | busy idle")
        for name in args.endpoints:
            endpoint = by_name[name]
            run.preflight(args.port, endpoint)
            run.run_wrk(settings, endpoint, args.connections, 2)  # warm-up
            before = snapshot()
            result = run.run_wrk(settings, endpoint, args.connections, args.seconds)
            cpu = split(before, snapshot(), result["requests"])
            print(
                f"{name:<15} {result['requests'] / args.seconds:>7.0f}  {cpu.get('gunicorn', 0):>21.0f} "
                f"{cpu.get('postgres', 0):>8.0f} {cpu.get('redis', 0):>5.0f} {cpu.get('other', 0):>5.0f} "
                f"| {cpu['busy']:>4.0f} {cpu['idle']:>4.0f}",
                flush=True,
            )
    finally:
        run.stop(server)


if __name__ == "__main__":
    main()
