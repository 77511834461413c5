"""Medians, ratios and targets as a Markdown table and a PNG chart, with the machine they ran on."""

import os
import platform
import subprocess
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import psutil

from bench.procs import ROOT
from bench.stats import summary

PACKAGES = [
    "Django",
    "channels",
    "channels-redis",
    "redis",
    "daphne",
    "psycopg",
    "celery",
    "kombu",
    "aiosmtpd",
]


@dataclass(frozen=True)
class Row:
    """One line of the table: system `a` (this project) against system `b` on one metric."""

    scenario: str
    title: str
    metric: str
    a: str
    b: str | None
    unit: str
    higher_is_better: bool
    target: str = ""
    check: object = None  # (a_median, b_median) -> bool


def rows(sizes: dict) -> list[Row]:
    s1, s3 = sizes["s1_smtp_ms"], sizes["s3_smtp_ms"]
    s2_fast = f"{sizes['s2_n']:,} queued, SMTP 0 ms"
    s2_slow = f"{sizes['s2_slow_n']:,} queued, SMTP 200 ms/msg + 150 ms/conn"
    s4 = f"{sizes['s4_n']:,} queued, SMTP {sizes['s4_smtp_ms']} ms"
    return [
        Row("s1", f"POST p50, c=1, SMTP {s1} ms", "c1_p50_ms", "project", "inline", "ms", False,
            "p50 ≥ 20× faster", lambda a, b: b / a >= 20),
        Row("s1", f"POST p99, c=1, SMTP {s1} ms", "c1_p99_ms", "project", "inline", "ms", False,
            "≤ 25 ms", lambda a, b: a <= 25),
        Row("s1", f"POST p50, c=10, SMTP {s1} ms", "c10_p50_ms", "project", "inline", "ms", False),
        Row("s1", f"POST p99, c=10, SMTP {s1} ms", "c10_p99_ms", "project", "inline", "ms", False),
        Row("s1", f"failed POSTs (not 302) of {sizes['s1_requests_c10']}, c=10", "c10_errors", "project",
            "inline", "", False),
        Row("s1", "peak PostgreSQL connections, c=10", "c10_pg_connections", "project", "inline", "", False),
        Row("s2", f"worker throughput, {s2_fast}", "throughput", "fast_project", "fast_celery", "/s", True,
            "≥ 300/s and ≥ 1.5× Celery", lambda a, b: a >= 300 and a / b >= 1.5),
        Row("s2", f"worker throughput, {s2_slow}", "throughput", "slow_project", "slow_celery", "/s", True,
            "≥ 20/s (4× one at a time)", lambda a, b: a >= 20),
        Row("s2", "SMTP connections opened (slow case)", "smtp_connections", "slow_project", "slow_celery",
            "", False),
        Row("s3", f"commit → sent p50, 20/s, SMTP {s3} ms", "e2e_p50_ms", "project", "celery", "ms", False,
            f"≤ {s3 + 10} ms", lambda a, b: a <= s3 + 10),
        Row("s3", f"commit → sent p99, 20/s, SMTP {s3} ms", "e2e_p99_ms", "project", "celery", "ms", False,
            f"≤ {s3 + 40} ms", lambda a, b: a <= s3 + 40),
        Row("s4", f"throughput with every worker sending, {s4}", "steady_throughput",
            "workers_2", "workers_1", "/s", True, "≥ 1.8×", lambda a, b: a / b >= 1.8),
        Row("s4", "… first mail to last (the later worker's start-up in it)", "throughput",
            "workers_2", "workers_1", "/s", True),
        Row("s4", f"cores busy on the whole machine (of {os.cpu_count()}) while draining",
            "machine_busy_cores", "workers_2", "workers_1", "", False),
        Row("s4", "CPU time of the whole machine per mail delivered", "machine_cpu_ms_per_mail", "workers_2",
            "workers_1", "ms", False),
        *(Row("s4", f"… of which {role}", f"{metric}_cpu_ms_per_mail", "workers_2", "workers_1", "ms", False)
          for role, metric in (("the workers", "workers"), ("the SMTP sink", "sink"),
                               ("PostgreSQL", "postgresql"), ("Redis", "redis"))),
        Row("s5", f"worker peak RSS, backlog of {sizes['s5_n']:,}", "peak_rss_mb", "project", "celery", "MiB",
            False, "≤ 150 MB", lambda a, b: a * 2**20 <= 150e6),
        Row("s6", f"enqueue {sizes['s6_n']:,}: bulk service vs one async_to_sync(send) each", "rate",
            "project", "per_send", "/s", True, "≥ 1,000/s", lambda a, b: a >= 1000),
        Row("s6", "… of which publishing only", "publish_rate", "project", "per_send", "/s", True),
    ]  # fmt: skip


SYSTEM_NAMES = {
    "s1": ("daphne + worker", "send inside the view"),
    "s2": ("this project, 1 worker", "Celery, 1 worker (solo)"),
    "s3": ("this project", "Celery"),
    "s4": ("2 workers", "1 worker"),
    "s5": ("this project", "Celery"),
    "s6": ("invitations_create_many", "bulk insert + async_to_sync per send"),
}


def machine_info() -> dict:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor() or "unknown",
    )  # fmt: skip
    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "-"
    return {
        "cpu": cpu,
        "cores": f"{os.cpu_count()} logical ({psutil.cpu_count(logical=False)} physical)",
        "ram": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "python": platform.python_version(),
        "os": _os_name(),
        "packages": versions,
        # BENCH_SOURCE describes the code when the bench runs from an export rather than a checkout.
        "git": os.environ.get("BENCH_SOURCE") or _git(),
    }


def _os_name() -> str:
    release = Path("/etc/os-release")
    pretty = ""
    if release.exists():
        for line in release.read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                pretty = line.split("=", 1)[1].strip('"') + ", "
    return f"{pretty}{platform.system()} {platform.release()} {platform.machine()}"


def _git() -> str:
    def run(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603, S607
        return result.stdout.strip()

    changed = len(run("status", "--porcelain", "--", "invitations", "myproject", "templates").splitlines())
    return f"{run('rev-parse', '--short', 'HEAD') or 'unknown'}" + (
        f" with {changed} uncommitted change(s) in the product" if changed else ""
    )


def _fmt(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _cell(stat: dict | None, unit: str) -> str:
    if stat is None:
        return "–"
    spread = f" ({_fmt(stat['min'])}–{_fmt(stat['max'])})" if stat["n"] > 1 else ""
    return f"**{_fmt(stat['median'])}** {unit}{spread}"


def medians(results: dict, row: Row) -> tuple[dict | None, dict | None]:
    runs = results.get(row.scenario, {})
    a = summary([run.get(row.metric) for run in runs.get(row.a, [])])
    b = summary([run.get(row.metric) for run in runs.get(row.b, [])]) if row.b else None
    return a, b


def markdown(results: dict, meta: dict) -> str:
    machine = meta["machine"]
    lines = [
        "# Benchmark: invitation delivery",
        "",
        f"Run {meta['started']} ({meta['duration_min']:.0f} min), git {machine['git']}. "
        f"Each figure is the **median** of {meta['repeats']} repeat(s), (min–max) beside it; "
        "systems alternate within each repeat.",
        f"Worker concurrency of this project: **{meta['worker_concurrency']}**.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']}, {machine['ram']} RAM, Python {machine['python']}, "
        f"{machine['os']}; PostgreSQL {meta.get('postgres', '?')}, Redis {meta.get('redis', '?')}.",
        "Packages: " + ", ".join(f"{name} {version}" for name, version in machine["packages"].items()) + ".",
        "",
    ]
    if meta.get("kept"):
        lines += [f"**Combined run:** {meta['kept']}", ""]
    if meta.get("incomplete"):
        lines += [f"**Incomplete run:** {meta['incomplete']}", ""]
    lines += [
        "| # | measure | this project | alternative | ratio | target | met |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows(meta["sizes"]):
        if row.scenario not in results:
            continue
        a, b = medians(results, row)
        names = SYSTEM_NAMES[row.scenario]
        ratio, met = "–", ""
        if a and b and a["median"] and b["median"]:
            better = a["median"] / b["median"] if row.higher_is_better else b["median"] / a["median"]
            ratio = f"{better:.2f}×"
        if row.check and a and (b or row.b is None):
            met = "yes" if row.check(a["median"], b["median"] if b else None) else "**no**"
        lines.append(
            f"| {row.scenario[1]} | {row.title} | {_cell(a, row.unit)}<br>{names[0]} | "
            f"{_cell(b, row.unit)}<br>{names[1]} | {ratio} | {row.target} | {met} |"
        )
    lines += ["", "Ratio: how many times better this project (or 2 workers) is; above 1 is better.", ""]
    lines += _checks(results, meta)
    return "\n".join(lines) + "\n"


def _checks(results: dict, meta: dict) -> list[str]:
    lines = ["## Correctness and notes", ""]
    for scenario, systems in results.items():
        for system, runs in systems.items():
            flags = [run.get("exactly_once") for run in runs if "exactly_once" in run]
            if flags:
                duplicates = sum(run.get("duplicates_sent", 0) for run in runs)
                skipped = sum(run.get("skipped_messages", 0) for run in runs)
                verdict = (
                    "every row sent exactly once" if all(flags) else "**NOT every row sent exactly once**"
                )
                rate = summary([run.get("achieved_rate") for run in runs])
                paced = f"; invitations created at {rate['median']:.1f}/s" if rate else ""
                lines.append(
                    f"- {scenario} {system}: {verdict} in {len(flags)} run(s); duplicate mails {duplicates}; "
                    f"duplicate wake-ups skipped by the claim {skipped}{paced}."
                )
    lines += _scaling_ceiling(results)
    for system, runs in results.get("s1", {}).items():
        errors = Counter()
        for run in runs:
            errors.update(run.get("error_lines", {}))
        if errors:
            top = "; ".join(f"{count} × `{line}`" for line, count in errors.most_common(3))
            lines.append(f"- s1 {system}: the web process logged {top}.")
    foreign = meta.get("foreign_cores", {})
    if foreign:
        worst = ", ".join(f"{key[1]}: {max(values):.2f}" for key, values in foreign.items())
        lines += [
            "",
            "Other load on the machine (cores kept busy by processes the bench did not start, PostgreSQL "
            f"and Redis left out; worst repeat per scenario): {worst}. Above ~0.2, read that scenario "
            "with care and run it again on a quiet machine.",
        ]
    lines += ["", *[f"- {note}" for note in meta.get("notes", [])]]
    return lines


def _scaling_ceiling(results: dict) -> list[str]:
    """What the machine allows scenario 4, whatever the workers do: cores / CPU per mail."""
    scaling = results.get("s4", {})
    one = summary([run.get("throughput") for run in scaling.get("workers_1", [])])
    cost = summary([run.get("machine_cpu_ms_per_mail") for run in scaling.get("workers_2", [])])
    if not one or not cost:
        return []
    cores = psutil.cpu_count()
    ceiling = cores / (cost["median"] / 1000)
    return [
        f"- s4: at {cost['median']:.2f} ms of the whole machine's CPU per mail (workers, sink, PostgreSQL, "
        f"Redis, the bench), its {cores} cores deliver at most {ceiling:,.0f} mails/s, however many "
        f"workers run: {ceiling / one['median']:.2f}× the one-worker rate."
    ]


def chart(results: dict, meta: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [row for row in rows(meta["sizes"]) if row.scenario in results and row.unit]
    columns = 4
    lines = max(1, -(-len(shown) // columns))
    figure, axes = plt.subplots(lines, columns, figsize=(4.2 * columns, 3.4 * lines), squeeze=False)
    for axis, row in zip(axes.flat, shown, strict=False):
        a, b = medians(results, row)
        names = SYSTEM_NAMES[row.scenario]
        bars = [(names[0], a, "#1f6feb"), (names[1], b, "#9aa4ae")]
        bars = [(name, stat, colour) for name, stat, colour in bars if stat]
        for index, (_, stat, colour) in enumerate(bars):
            error = [[stat["median"] - stat["min"]], [stat["max"] - stat["median"]]]
            axis.bar(index, stat["median"], color=colour, yerr=error, capsize=4)
            axis.annotate(_fmt(stat["median"]), (index, stat["median"]), ha="center", va="bottom", fontsize=8)
        axis.set_xticks(range(len(bars)), [name for name, _, _ in bars], fontsize=7)
        axis.set_title(f"{row.scenario[1]}. {row.title}", fontsize=8, wrap=True)
        axis.set_ylabel(
            row.unit + (" (higher is better)" if row.higher_is_better else " (lower is better)"), fontsize=7
        )
    for axis in list(axes.flat)[len(shown) :]:
        axis.axis("off")
    machine = meta["machine"]
    figure.suptitle(
        f"Invitation delivery benchmark, {meta['started']}: median of {meta['repeats']} (whiskers min–max); "
        f"{machine['cpu']}, {machine['cores']}, {machine['ram']}",
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
