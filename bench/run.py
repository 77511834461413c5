"""Run the benchmark of issues 5, 16 and 28 and write bench/results/latest.{md,json}.

    python -m bench.run                 # every scenario, full sizes, 3 repeats
    python -m bench.run --quick         # a smoke run with small sizes
    python -m bench.run --scenarios 2,4 --repeats 5 --set s2_n=5000

Everything runs on loopback: a PostgreSQL database of its own (created, migrated, dropped), a
Redis DB index and key prefix of its own (keys deleted at the end), an SMTP sink, daphne,
workers. Whatever it started is stopped at the end, also on failure or Ctrl-C.
"""

import argparse
import json
import signal
import sys
import time
import traceback
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench import backlog, pace, report, scale, scenarios
from bench.harness import Harness
from loopback.processes import ROOT

RESULTS = ROOT / "bench" / "results"
FULL = {
    "s1_smtp_ms": 200, "s1_warmup": 20, "s1_requests": 200,
    "s2_n": 2000, "s2_slow_n": 300,
    "s3_rate": 20, "s3_seconds": 20, "s3_smtp_ms": 20,
    "s4_n": 2000, "s4_smtp_ms": 20,
    "s5_n": 2000,
    "s6_n": 5000,
    "s7_rate": 20, "s7_seconds": 15,
    "s8_rate": 20, "s8_n": 5000, "s8_singles": 10, "s8_every": 2, "s8_workers": 3,
    "s9_n": 300, "s9_latency_ms": 200,
    "s10_n1": 10_000, "s10_n2": 100_000, "s10_n3": 1_000_000, "s10_samples": 40, "s10_repeats": 1,
}  # fmt: skip
QUICK = {
    **FULL,
    "s1_warmup": 5, "s1_requests": 30, "s2_n": 200, "s2_slow_n": 40, "s3_seconds": 5, "s4_n": 200,
    "s5_n": 1000, "s6_n": 1000, "s7_seconds": 10, "s8_n": 1000, "s8_singles": 4, "s9_n": 60,
    "s10_n1": 1000, "s10_n2": 5000, "s10_n3": 20_000, "s10_samples": 10,
}  # fmt: skip
SCENARIOS = {
    1: ("s1", scenarios.post_latency),
    2: ("s2", backlog.worker_throughput),
    3: ("s3", scenarios.end_to_end),
    4: ("s4", backlog.two_workers),
    5: ("s5", backlog.memory),
    6: ("s6", scenarios.bulk_enqueue),
    7: ("s7", pace.send_rate),
    8: ("s8", pace.priority_lane),
    9: ("s9", pace.http_provider),
    10: ("s10", scale.scale),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark of issues 5, 16 and 28 (see bench/README.md).")
    parser.add_argument("--quick", action="store_true", help="small sizes and one repeat: a smoke run")
    parser.add_argument("--repeats", type=int, help="repeats of each scenario (default 3, quick 1)")
    parser.add_argument(
        "--scenarios", default=",".join(map(str, SCENARIOS)), help="comma list of scenario numbers"
    )
    parser.add_argument("--set", action="append", default=[], metavar="KEY=N", help="override a size")
    parser.add_argument("--keep", type=Path, metavar="JSON", help="other scenarios from an earlier run")
    return parser.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> dict:
    sizes = dict(QUICK if args.quick else FULL)
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in sizes:
            raise SystemExit(f"unknown size {key!r}; known: {', '.join(sizes)}")
        sizes[key] = int(value)
    return sizes


def keep_earlier(path: Path, numbers: list[int], meta: dict) -> dict:
    """The scenarios of an earlier latest.json that this run does not repeat, with their sizes."""
    earlier = json.loads(path.read_text())
    kept = sorted(key for key in earlier["results"] if int(key[1:]) not in numbers)
    run = f"{earlier['meta']['started']} ({earlier['meta']['machine']['git']})"
    # A scenario that the earlier run had kept itself comes from the run that measured it.
    meta["measured_in"] = {key: earlier["meta"].get("measured_in", {}).get(key, run) for key in kept}
    meta["sizes"].update({key: value for key, value in earlier["meta"]["sizes"].items() if key[:2] in kept})
    return {key: earlier["results"][key] for key in kept}


def server_versions(h: Harness) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return {"postgres": postgres, "redis": h.redis.info("server")["redis_version"]}


def write(results: dict, meta: dict, began: float) -> None:
    meta["duration_min"] = (time.monotonic() - began) / 60
    (RESULTS / "latest.json").write_text(json.dumps({"meta": meta, "results": results}, indent=1))
    (RESULTS / "latest.md").write_text(report.markdown(results, meta))


def measure(numbers: list[int], log_dir: Path, results: dict, meta: dict, began: float) -> None:
    """Every repeat of every scenario asked for; each repeat runs all its systems one after the other."""
    from invitations.conf import app_settings

    with ExitStack() as stack:
        h = Harness(log_dir, stack)
        meta.update(machine=report.machine_info(), worker_concurrency=app_settings.WORKER_CONCURRENCY)
        meta.update(server_versions(h))
        for number in numbers:
            key, scenario = SCENARIOS[number]
            for repeat in range(1, meta["repeats"] + 1):
                started = time.monotonic()
                for system, figures in scenario(h, meta["sizes"], repeat).items():
                    results.setdefault(key, {}).setdefault(system, []).append(figures)
                print(f"bench: scenario {number} repeat {repeat}: {time.monotonic() - started:.0f} s")
            write(results, meta, began)


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM unwinds like Ctrl-C, so that every `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    started = datetime.now(UTC)
    repeats = args.repeats or (1 if args.quick else 3)
    meta = {"started": f"{started:%Y-%m-%d %H:%M} UTC", "repeats": repeats, "sizes": sizes_from(args)}
    numbers = [int(number) for number in args.scenarios.split(",")]
    results = keep_earlier(args.keep, numbers, meta) if args.keep else {}
    log_dir = RESULTS / "logs" / f"{started:%Y%m%d-%H%M%S}"
    log_dir.mkdir(parents=True)
    print(f"bench: logs in {log_dir}")
    began, status = time.monotonic(), 0
    try:
        measure(numbers, log_dir, results, meta, began)
    except BaseException as error:  # also Ctrl-C and SIGTERM: keep what was measured
        status = 1
        meta["incomplete"] = f"stopped by {type(error).__name__}: {error}"
        traceback.print_exc()
    if "machine" in meta:
        write(results, meta, began)
        print((RESULTS / "latest.md").read_text())
    return status


if __name__ == "__main__":
    sys.exit(main())
