"""Run the benchmark of issue 5 and write bench/results/latest.{md,png,json}.

    python -m bench.run                 # every scenario, full sizes, 3 repeats
    python -m bench.run --quick         # a smoke run with small sizes
    python -m bench.run --scenarios 2,4 --repeats 5 --set s2_n=5000 --worker-concurrency 4

Everything runs on loopback: a PostgreSQL database of its own (created, migrated, dropped), a
Redis DB index and key prefix of its own (keys deleted at the end), an SMTP sink, daphne,
workers. Whatever it started is stopped at the end, also on failure or Ctrl-C.
"""

import argparse
import json
import os
import signal
import sys
import time
import traceback
from collections import defaultdict
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path

from bench.harness import CONCURRENCY_ENV, Config, Harness
from bench.procs import ROOT, ForeignLoad

RESULTS = ROOT / "bench" / "results"
FULL = {
    "s1_smtp_ms": 200, "s1_warmup": 20, "s1_requests_c1": 200, "s1_requests_c10": 500,
    "s2_n": 2000, "s2_slow_n": 2000,
    "s3_rate": 20, "s3_seconds": 30, "s3_smtp_ms": 20,
    "s4_n": 2000, "s4_smtp_ms": 20,
    "s5_n": 10_000,
    "s6_n": 10_000,
}  # fmt: skip
QUICK = {
    **FULL,
    "s1_warmup": 5, "s1_requests_c1": 30, "s1_requests_c10": 60,
    "s2_n": 200, "s2_slow_n": 40, "s3_seconds": 5, "s4_n": 200, "s5_n": 1000, "s6_n": 1000,
}  # fmt: skip
NOTES = [
    "Scenario 1: both web processes are daphne with DEBUG=0, PostgreSQL, one staff session, keep-alive "
    "clients posting distinct addresses with the CSRF token; the first requests of each start are a "
    "discarded warm-up. This project's web runs `myproject.settings` unchanged with its worker running.",
    "Scenarios 2, 4, 5: the rows are created and every wake-up is queued before the workers start "
    "(this project: `invitations_create_many`; Celery: `bulk_create` + one `apply_async` per row). "
    "channels-redis checks capacity and expiry when sending, so the runner publishes with its own "
    "capacity (the product's is 1000) and the workers run with CHANNEL_EXPIRY and "
    "INVITATION_REPUBLISH_AFTER of 3600 s: the whole backlog stays queued, as in Celery's broker, "
    "and the sweep does not re-publish it mid-run. Throughput is (N − 1) / (last `sent` − first `sent`). "
    "Scenario 4's target is the rate while both workers send: from the first `sent` of the worker that "
    "started last to the last `sent` of the one that finished first (each worker imports Django and warms "
    "up in its own time, up to 0.3 s apart here); the whole span is reported below it.",
    "Celery runs `--pool solo --concurrency 1` (the task runs in the process that reads the queue, no "
    "pipe hop to a child, one process like the product's worker), default prefetch, "
    "`--without-gossip --without-mingle --without-heartbeat`, and keeps its PostgreSQL connection "
    "(CELERY_DB_REUSE_MAX; Celery's Django fix-up otherwise reconnects for every task, which halved "
    "its throughput here) and one SMTP connection across tasks, as the product's worker does "
    "(BENCH_CELERY_DB_REUSE=0 / BENCH_CELERY_SMTP_REUSE=0 for Celery's defaults).",
    "The SMTP sink spends the per-connection delay in EHLO and the per-message delay in DATA. It offers "
    "PIPELINING, as providers do; Celery sends through the product's MAILERS too, so both pipeline.",
    "Scenario 3: the runner creates one invitation every 50 ms in its own transaction (this project: "
    "`services.invitation_create`, published on commit; Celery: `delay()` on commit); latency runs "
    "from the commit (taken by an `on_commit` callback registered before the publish) to the row's `sent` "
    "stamp. It does so in a thread under an event loop, as daphne runs a view: "
    "without one, each `async_to_sync` starts an event loop, and channels-redis a Redis connection, of "
    "its own (about 4 ms more per invitation here).",
    "Scenario 6: both insert the rows in bulk; the alternative then calls `async_to_sync(layer.send)` once "
    "per invitation. Publishing-only rates time the publishing part alone.",
]


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Benchmark of issue 5 (see bench/README.md).")
    parser.add_argument("--quick", action="store_true", help="small sizes and one repeat: a smoke run")
    parser.add_argument("--repeats", type=int, help="repeats of each scenario (default 3, quick 1)")
    parser.add_argument("--scenarios", default="1,2,3,4,5,6", help="comma list of scenario numbers")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=N", help="override a size")
    parser.add_argument("--worker-concurrency", type=int, help=f"sets {CONCURRENCY_ENV} for the workers")
    parser.add_argument(
        "--no-queue-knobs", action="store_true", help="run throughput workers with the product's expiry/sweep"
    )
    parser.add_argument("--results-dir", type=Path, default=RESULTS)
    parser.add_argument(
        "--keep", type=Path, metavar="JSON", help="take the scenarios not run now from an earlier latest.json"
    )
    return parser.parse_args(argv)


def sizes_from(args: argparse.Namespace) -> dict:
    sizes = dict(QUICK if args.quick else FULL)
    for item in args.set:
        key, _, value = item.partition("=")
        if key not in sizes:
            raise SystemExit(f"unknown size {key!r}; known: {', '.join(sizes)}")
        sizes[key] = type(sizes[key])(value)
    return sizes


def worker_concurrency() -> str:
    value = os.environ.get(CONCURRENCY_ENV)
    if value:
        return f"{value} (from {CONCURRENCY_ENV})"
    from django.conf import settings

    return f"{settings.INVITATION_WORKER_CONCURRENCY} (product default)"


def server_versions(h: Harness) -> dict:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    return {"postgres": postgres, "redis": h.redis.info("server")["redis_version"]}


def calibrate(h: Harness, count: int = 1000) -> dict:
    """The ceiling of the SMTP path alone: Django's SMTP backend, one connection, no database."""
    from django.core.mail import mailers

    from invitations.mail import build_message
    from invitations.models import Invitation

    h.sink.configure(connection_ms=0, message_ms=0)
    began = time.perf_counter()
    messages = [build_message(Invitation(email=f"cal-{i}@example.com"), key="k" * 43) for i in range(count)]
    built = time.perf_counter()
    for message in messages:
        message.message().as_bytes()
    serialised = time.perf_counter()
    backend = mailers.default
    backend.open()
    for message in messages:
        backend.send_messages([message])
    backend.close()
    sent = time.perf_counter()
    return {
        "build_ms": (built - began) * 1000 / count,
        "mime_ms": (serialised - built) * 1000 / count,
        "send_ms": (sent - serialised) * 1000 / count,
        "smtp_per_s": count / (sent - serialised),
    }


def write(results: dict, meta: dict, directory: Path) -> None:
    from bench import report

    directory.mkdir(parents=True, exist_ok=True)
    meta["duration_min"] = (time.monotonic() - meta["_began"]) / 60
    calibration = meta.get("calibration")
    if calibration:
        meta["notes"] = [
            *NOTES,
            "Calibration in the runner process, per invitation mail: rendering it (`build_message`) "
            f"{calibration['build_ms']:.2f} ms; turning it into MIME bytes (`message().as_bytes()`, "
            f"which Django's SMTP backend does inside `send_messages`) {calibration['mime_ms']:.2f} ms; "
            f"`send_messages` over one open connection to the sink at 0 ms {calibration['send_ms']:.2f} ms "
            f"= {calibration['smtp_per_s']:,.0f} mails/s with no database at all: the ceiling of any "
            "one-process, one-connection worker on this machine.",
        ]
    public = {key: value for key, value in meta.items() if not key.startswith("_")}
    (directory / "latest.json").write_text(json.dumps({"meta": public, "results": results}, indent=1))
    (directory / "latest.md").write_text(report.markdown(results, meta))
    report.chart(results, meta, directory / "latest.png")


def keep_earlier(earlier: dict, config: Config, results: dict, meta: dict) -> None:
    """Carry over an earlier run's scenarios that this run does not repeat, saying so."""
    from bench.scenarios import SCENARIOS

    running = {SCENARIOS[number][0] for number in config.scenarios}
    kept = sorted(key for key in earlier["results"] if key not in running)
    # A scenario the earlier run had kept itself comes from the run that measured it.
    earlier_run = f"{earlier['meta']['started']} ({earlier['meta']['machine']['git']})"
    for key in kept:
        results[key] = earlier["results"][key]
        meta.setdefault("foreign_cores", {})[key] = earlier["meta"].get("foreign_cores", {}).get(key, [])
        meta.setdefault("measured_in", {})[key] = earlier["meta"].get("measured_in", {}).get(key, earlier_run)
    if kept:
        runs = defaultdict(list)
        for key in kept:
            runs[meta["measured_in"][key]].append(key[1])
        sources = "; ".join(f"scenarios {', '.join(ids)} from the run of {run}" for run, ids in runs.items())
        meta["kept"] = f"{sources[:1].upper()}{sources[1:]}, each with its sizes; the others were run again."
        for key, value in earlier["meta"]["sizes"].items():
            if key.split("_")[0] in kept:
                config.sizes[key] = value


def run_scenario(h: Harness, number: int, config: Config, results: dict, meta: dict) -> None:
    """Every repeat of one scenario; each repeat runs all its systems one after the other."""
    from bench.scenarios import SCENARIOS

    key, scenario = SCENARIOS[number]
    for repeat in range(1, config.repeats + 1):
        began, foreign = time.monotonic(), ForeignLoad()
        for system, figures in scenario(h, config.sizes, repeat).items():
            results.setdefault(key, {}).setdefault(system, []).append(figures)
        load = foreign.cores()
        meta.setdefault("foreign_cores", {}).setdefault(key, []).append(round(load, 2))
        elapsed = time.monotonic() - began
        print(f"bench: scenario {number} repeat {repeat}: {elapsed:.0f} s, other load {load:.2f} cores")


def main(argv: list[str] | None = None) -> int:
    sys.stdout.reconfigure(line_buffering=True)
    args = parse_args(sys.argv[1:] if argv is None else argv)
    # SIGTERM unwinds like Ctrl-C, so that every `finally` stops what it started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if args.worker_concurrency:
        os.environ[CONCURRENCY_ENV] = str(args.worker_concurrency)
    started = datetime.now(UTC)
    log_dir = args.results_dir / "logs" / started.strftime("%Y%m%d-%H%M%S")
    log_dir.mkdir(parents=True, exist_ok=True)
    config = Config(
        repeats=args.repeats or (1 if args.quick else 3),
        sizes=sizes_from(args),
        scenarios=[int(number) for number in args.scenarios.split(",")],
        log_dir=log_dir,
        queue_knobs=not args.no_queue_knobs,
    )
    meta = {"started": f"{started:%Y-%m-%d %H:%M} UTC", "repeats": config.repeats, "sizes": config.sizes}
    meta["_began"] = time.monotonic()
    results: dict = {}
    if args.keep:
        keep_earlier(json.loads(args.keep.read_text()), config, results, meta)
    print(f"bench: logs in {log_dir}")
    status = 0
    try:
        with ExitStack() as stack:
            from bench import report

            h = Harness(config, stack)
            meta.update(machine=report.machine_info(), worker_concurrency=worker_concurrency())
            meta.update(server_versions(h))
            meta["calibration"] = calibrate(h)
            for number in config.scenarios:
                run_scenario(h, number, config, results, meta)
                write(results, meta, args.results_dir)
    except BaseException as error:  # also Ctrl-C and SIGTERM: keep what was measured
        status = 1
        meta["incomplete"] = f"stopped by {type(error).__name__}: {error}"
        traceback.print_exc()
    if "machine" in meta:
        write(results, meta, args.results_dir)
        print((args.results_dir / "latest.md").read_text())
    return status


if __name__ == "__main__":
    sys.exit(main())
