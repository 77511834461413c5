"""Medians, ratios and targets as a Markdown table, with the machine they ran on."""

import os
import platform
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import psutil

from invitations.throttle import BURST
from loopback.processes import ROOT

PACKAGES = ["Django", "channels", "channels-redis", "redis", "uvicorn", "psycopg", "celery", "kombu"]
PACKAGES += ["aiosmtpd", "django-anymail"]
SYSTEM_NAMES = {
    "s1": ("web + worker", "send inside the view"),
    "s2": ("this project, 1 worker", "Celery, 1 worker (solo)"),
    "s3": ("this project", "Celery"),
    "s4": ("2 workers", "1 worker"),
    "s5": ("this project", "Celery"),
    "s6": ("invitations_create_many", "bulk insert + async_to_sync per send"),
    "s7": ("3 workers, INVITATION_SEND_RATE", "Celery, 3 workers, rate_limit (per worker)"),
    "s8": ("invitation_create (the priority lane)", "the same row published behind the backlog"),
    "s9": ("this project, 1 worker", "Celery, 1 worker (solo)"),
}


@dataclass(frozen=True)
class Row:
    """One line of the table: system `a` (this project) against system `b` on one metric."""

    key: str
    scenario: str
    title: str
    metric: str
    a: str
    b: str
    unit: str
    higher_is_better: bool
    target: str
    met: Callable[[float, float], bool]
    ratio: bool = True  # False for a cap, which a system does not beat by going faster


def rows(sizes: dict) -> list[Row]:
    s1, s3, s4, rate = sizes["s1_smtp_ms"], sizes["s3_smtp_ms"], sizes["s4_smtp_ms"], sizes["s3_rate"]
    s7, s8, every = sizes["s7_rate"], sizes["s8_rate"], sizes["s8_every"]
    s7_title = f"3 workers at {s7}/s, {s7 * sizes['s7_seconds']:,} queued, SMTP 0 ms"
    s8_workers = sizes.get("s8_workers", 1)  # runs kept from before it was a size had one
    s8_title = f"every {every} s, while {sizes['s8_n']:,} bulk drain at {s8}/s through {s8_workers} worker(s)"
    return [
        Row("post_p50", "s1", f"POST p50, c=1, SMTP {s1} ms", "c1_p50_ms", "project", "inline", "ms", False,
            "p50 ≥ 10× faster than sending inside the view", lambda a, b: b / a >= 10),
        Row("post_p99", "s1", f"POST p99, c=1, SMTP {s1} ms", "c1_p99_ms", "project", "inline", "ms", False,
            "p99 ≤ 40 ms", lambda a, b: a <= 40),
        Row("drain_fast", "s2", f"worker throughput, {sizes['s2_n']:,} queued, SMTP 0 ms", "throughput",
            "fast_project", "fast_celery", "/s", True, "≥ 1.5× Celery solo", lambda a, b: a / b >= 1.5),
        Row("drain_slow", "s2", f"worker throughput, {sizes['s2_slow_n']:,} queued, SMTP 200 ms + 150 ms "
            "connect", "throughput", "slow_project", "slow_celery", "/s", True, "≥ 5× Celery solo",
            lambda a, b: a / b >= 5),
        Row("e2e_p50", "s3", f"commit → sent p50, {rate}/s, SMTP {s3} ms", "e2e_p50_ms", "project", "celery",
            "ms", False, "p50 ≤ 35 ms", lambda a, b: a <= 35),
        Row("e2e_p99", "s3", f"commit → sent p99, {rate}/s, SMTP {s3} ms", "e2e_p99_ms", "project", "celery",
            "ms", False, "p99 ≤ 70 ms", lambda a, b: a <= 70),
        Row("two_workers", "s4", f"two workers vs one, {sizes['s4_n']:,} queued, SMTP {s4} ms, first mail to "
            "last", "throughput", "workers_2", "workers_1", "/s", True, "≥ 1.7×", lambda a, b: a / b >= 1.7),
        Row("rss", "s5", f"worker peak RSS, {sizes['s5_n']:,} queued", "peak_rss_mb", "project", "celery",
            "MiB", False, "≤ 150 MB", lambda a, b: a * 2**20 <= 150e6),
        Row("bulk", "s6", f"bulk enqueue of {sizes['s6_n']:,}", "rate", "project", "per_send", "/s", True,
            "≥ 3,000/s", lambda a, b: a >= 3000),
        Row("rate_max", "s7", f"busiest 1 s ({s7_title})", "max_1s", "project", "celery", "mails", False,
            f"≤ {s7} + {BURST} (the burst)", lambda a, b: a <= s7 + BURST, ratio=False),
        Row("rate_used", "s7", f"sustained rate, first mail to last ({s7_title})", "throughput", "project",
            "celery", "/s", True, f"≥ {0.9 * s7:g}/s", lambda a, b: a >= 0.9 * s7, ratio=False),
        Row("lane_p50", "s8", f"single invite commit → sent p50, {s8_title}", "single_p50_s", "project",
            "no_lane", "s", False, "p50 ≤ 2 s", lambda a, b: a <= 2),
        Row("lane_p99", "s8", f"single invite commit → sent p99, {s8_title}", "single_p99_s", "project",
            "no_lane", "s", False, "p99 ≤ 1 s", lambda a, b: a <= 1),
        Row("provider", "s9", f"worker throughput, {sizes['s9_n']:,} queued, fake Postmark API "
            f"{sizes['s9_latency_ms']} ms", "throughput", "project", "celery", "/s", True, "≥ 5× Celery solo",
            lambda a, b: a / b >= 5),
    ]  # fmt: skip


def summary(values: list) -> dict | None:
    """Median, min and max of the repeats, or None when there is nothing to summarise."""
    numbers = [value for value in values if isinstance(value, int | float) and value == value]  # not NaN
    if not numbers:
        return None
    return {"median": statistics.median(numbers), "min": min(numbers), "max": max(numbers), "n": len(numbers)}


def machine_info() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown",
    )  # fmt: skip
    os_name = platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")  # the bench runs on Linux only
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "python": platform.python_version(),
        "os": f"{os_name}, {platform.system()} {platform.release()} {platform.machine()}",
        "packages": {package: metadata.version(package) for package in PACKAGES},
        # BENCH_SOURCE names the code when the bench runs from an export rather than a checkout.
        "git": os.environ.get("BENCH_SOURCE") or _git(),
    }


def _git() -> str:
    def run(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603, S607
        return result.stdout.strip()

    changed = len(run("status", "--porcelain", "--", "invitations", "myproject", "templates").splitlines())
    return (run("rev-parse", "--short", "HEAD") or "unknown") + (
        f" with {changed} uncommitted change(s) in the product" if changed else ""
    )


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _cell(stat: dict | None, unit: str, name: str) -> str:
    if stat is None:
        return "–"
    spread = f" ({_fmt(stat['min'])}–{_fmt(stat['max'])})" if stat["n"] > 1 else ""
    return f"**{_fmt(stat['median'])}** {unit}{spread}<br>{name}"


def table_row(results: dict, row: Row) -> str:
    runs = results[row.scenario]
    a, b = (summary([run.get(row.metric) for run in runs.get(system, [])]) for system in (row.a, row.b))
    ratio = met = "–"
    if a and b and a["median"] and b["median"]:
        better = a["median"] / b["median"] if row.higher_is_better else b["median"] / a["median"]
        ratio = f"{better:.2f}×" if row.ratio else "–"
        met = "yes" if row.met(a["median"], b["median"]) else "**no**"
    names = SYSTEM_NAMES[row.scenario]
    cells = [row.scenario[1], row.title, _cell(a, row.unit, names[0]), _cell(b, row.unit, names[1])]
    return "| " + " | ".join([*cells, ratio, row.target, met]) + " |"


def side_by_side(results: dict, sizes: dict) -> list[str]:
    """The table of scenarios 1–9, each against its alternative (none if none of them ran)."""
    measured = [table_row(results, row) for row in rows(sizes) if row.scenario in results]
    if not measured:
        return []
    return [
        "| # | measure | this project | alternative | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *measured,
        "",
        "Ratio: how many times better this project (or 2 workers) is; above 1 is better.",
        "",
    ]


def markdown(results: dict, meta: dict) -> str:
    machine = meta["machine"]
    kept = "; ".join(f"scenario {key[1:]}, run {run}" for key, run in meta.get("measured_in", {}).items())
    packages = ", ".join(f"{name} {version}" for name, version in machine["packages"].items())
    lines = [
        "# Benchmark: invitation delivery",
        "",
        f"Run {meta['started']} ({meta['duration_min']:.0f} min), git {machine['git']}. Each figure is the "
        f"**median** of {meta['repeats']} repeat(s), (min–max) beside it; systems alternate within each "
        f"repeat. Worker concurrency: {meta['worker_concurrency']}. How it is measured: bench/README.md.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM, {machine['os']}, Python "
        f"{machine['python']}; PostgreSQL {meta['postgres']}, Redis {meta['redis']}. Packages: {packages}.",
        "",
        *([f"**Kept from earlier runs:** {kept}.\n"] if kept else []),
        *([f"**Incomplete run:** {meta['incomplete']}\n"] if "incomplete" in meta else []),
        *(side_by_side(results, meta["sizes"])),
        *(scale_table(results["s10"], meta["sizes"]) if results.get("s10") else []),
        "## Correctness",
        "",
        *(line for key, systems in results.items() for system, runs in systems.items()
          for line in correctness(f"{key} {system}", runs)),
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


# Scenario 10: (metric, measure, unit, target, met(largest, smallest)). Pages: issue 28's targets.
PAGE = (
    "≤ 150 ms and ≤ 2× its figure at the smallest size",
    lambda big, small: big <= 150 and big <= 2 * small,
)


def scale_measures() -> list[tuple]:
    from bench.scale import pages

    names = {"board_ms": "GET /invites/ (the staff board)", "admin_ms": "admin changelist",
             "admin_search_ms": "admin search by e-mail prefix"}  # fmt: skip
    measures = [(metric, names.get(metric) or f"admin ?{path.split('?')[1]}", "ms", *PAGE)
                for metric, path in pages().items()]  # fmt: skip
    return [
        *measures,
        ("healthz_ms", "/healthz", "ms", "≤ 20 ms", lambda big, small: big <= 20),
        ("metrics_ms", "/metrics (bearer token)", "ms", "≤ 50 ms", lambda big, small: big <= 50),
        ("accept_ms", "an invitee's accept link (GET, 302)", "ms", "≤ 10 ms", lambda big, small: big <= 10),
        ("import_peak_mib", "import_invitations of as many new addresses: peak memory incl. children", "MiB",
         "≤ 200 MiB", lambda big, small: big <= 200),
        ("import_rate", "import_invitations of as many new addresses: rows/s, whole command", "/s",
         "≥ 6,000/s", lambda big, small: big >= 6000),
        ("load_s", "loading the rows that reach the size (INSERT … SELECT, VACUUM)", "s", "–", None),
    ]  # fmt: skip


def scale_table(runs: dict, sizes: dict) -> list[str]:
    """Scenario 10's own table: each measure at each size, the growth factor and the target
    (checked at the largest size)."""
    found = sorted(int(key[1:]) for key in runs)
    head = " | ".join(f"{size:,} rows" for size in found)
    lines = [
        f"## Scale (scenario 10): medians of {sizes['s10_samples']} GETs each, PostgreSQL",
        "",
        f"| measure | {head} | {found[-1]:,} / {found[0]:,} | target at {found[-1]:,} | met |",
        "|" + " --- |" * (len(found) + 4),
    ]
    for metric, title, unit, target, met in scale_measures():
        medians = [summary([run.get(metric) for run in runs[f"n{size}"]]) for size in found]
        if any(stat is None for stat in medians):
            continue
        big, small = medians[-1]["median"], medians[0]["median"]
        verdict = "–" if met is None else "yes" if met(big, small) else "**no**"
        cells = [f"{_fmt(stat['median'])} {unit}" for stat in medians]
        lines.append(f"| {title} | {' | '.join(cells)} | {big / small:.2f}× | {target} | {verdict} |")
    return [*lines, ""]


def correctness(name: str, runs: list[dict]) -> list[str]:
    """What the runs of one system say about every row being sent once, and failed POSTs."""
    lines = []
    if any("failed_posts" in run for run in runs):
        failed = sum(run.get("failed_posts", 0) for run in runs)
        verdict = f"**{failed} POST(s) did not answer 302**" if failed else "every POST answered 302"
        lines.append(f"- {name}: {verdict} in {len(runs)} run(s).")
    flags = [run["exactly_once"] for run in runs if "exactly_once" in run]
    if flags:
        verdict = "every row sent exactly once" if all(flags) else "**NOT every row sent exactly once**"
        duplicates = sum(run.get("duplicates_sent", 0) for run in runs)
        rate = summary([run.get("achieved_rate") for run in runs])
        paced = f"; invitations created at {rate['median']:.1f}/s" if rate else ""
        lines.append(f"- {name}: {verdict} in {len(flags)} run(s); duplicate mails {duplicates}{paced}.")
    if waiting := sum(run.get("singles_waiting", 0) for run in runs):
        lines.append(f"- {name}: {waiting} single invite(s) still queued when the paced phase ended; their "
                     "latency counts up to then (a lower bound).")  # fmt: skip
    return lines
