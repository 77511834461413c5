"""Scenarios 2, 4 and 5: workers draining a backlog queued before they start (7 and 9 too, in bench/pace.py).

Each scenario function does one repeat of every system, side by side, and returns
{system: {metric: value, ...}}.
"""

import contextlib
from collections.abc import Callable

import psutil

from bench.harness import Harness
from loopback.processes import Process, wait_for


def alternate(systems: list, repeat: int) -> list:
    """The systems in turn, the other way round on even repeats, so neither always goes first."""
    return systems if repeat % 2 else systems[::-1]


def emails(label: str, count: int) -> list[str]:
    return [f"{label}-{index}@example.com" for index in range(count)]


def enqueue(h: Harness, system: str, addresses: list[str]) -> None:
    """Create the rows and queue one message each; check that all of them are queued."""
    from django.db import transaction

    from bench.celery_app import send_invitation
    from invitations import services
    from invitations.models import Invitation

    if system == "project":
        services.invitations_create_many(emails=addresses, sender=None)
    else:
        with transaction.atomic():
            rows = Invitation.objects.bulk_create(
                [Invitation(email=email) for email in addresses], batch_size=500
            )
        with send_invitation.app.producer_or_acquire() as producer:
            for row in rows:
                send_invitation.apply_async((row.pk,), producer=producer)
    if h.queued(system) != len(addresses):
        raise RuntimeError(f"{system}: {h.queued(system)} of {len(addresses)} messages queued")


def stamps() -> dict:
    """How many rows are sent and failed (final states), and the first and last `sent` stamp."""
    from django.db.models import Count, Max, Min, Q

    from invitations.models import Invitation

    Status = Invitation.Status
    return Invitation.objects.aggregate(
        n_sent=Count("pk", filter=Q(status=Status.SENT)),
        n_failed=Count("pk", filter=Q(status=Status.FAILED)),
        first=Min("sent"),
        last=Max("sent"),
    )


def finished(count: int) -> bool:
    figures = stamps()
    return figures["n_sent"] + figures["n_failed"] >= count


def rss_mb(processes: list[Process]) -> float:
    """The resident memory of these processes and their children, in MiB."""
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            family = [psutil.Process(process.pid), *psutil.Process(process.pid).children(recursive=True)]
            total += sum(member.memory_info().rss for member in family)
    return total / 2**20


def drain(
    h: Harness,
    system: str,
    count: int,
    *,
    name: str,
    workers: int = 1,
    smtp: tuple = (0, 0),
    env: dict | None = None,
    budget: float | None = None,
    delivered: Callable[[], dict] | None = None,
) -> dict:
    """Queue `count` invitations, start the workers (`env` added to theirs), time the first to the
    last `sent` stamp. `delivered()` counts what the mail server took, as the sink's STATS does."""
    connection_ms, message_ms = smtp
    h.reset(connection_ms=connection_ms, message_ms=message_ms)
    enqueue(h, system, emails(name, count))
    processes = h.start_workers(system, workers, name, queue_knobs=True, env=env)
    budget = budget or 120 + 1.5 * count * (connection_ms + message_ms + 20) / 1000 / workers
    peak_mb = 0.0

    def done() -> bool:
        nonlocal peak_mb  # sampled with each check, every 0.2 s: a worker's RSS hardly ever shrinks
        peak_mb = max(peak_mb, rss_mb(processes))
        return finished(count)

    try:
        wait_for(done, timeout=budget, message=name, interval=0.2)
    finally:
        h.stop(*processes)
    figures, sink = stamps(), (delivered or h.sink_stats)()
    span = (figures["last"] - figures["first"]).total_seconds()
    return {
        "throughput": (count - 1) / span if span else float("nan"),
        "peak_rss_mb": peak_mb,
        "exactly_once": figures["n_sent"] == count == sink["accepted"] == sink["distinct_recipients"],
        "duplicates_sent": sink["duplicates"],
    }


def worker_throughput(h: Harness, sizes: dict, repeat: int) -> dict:
    results = {}
    for case, smtp, count in (("fast", (0, 0), sizes["s2_n"]), ("slow", (150, 200), sizes["s2_slow_n"])):
        for system in alternate(["project", "celery"], repeat):
            name = f"s2-r{repeat}-{case}-{system}"
            results[f"{case}_{system}"] = drain(h, system, count, smtp=smtp, name=name)
    return results


def two_workers(h: Harness, sizes: dict, repeat: int) -> dict:
    smtp = (0, sizes["s4_smtp_ms"])
    return {
        f"workers_{n}": drain(h, "project", sizes["s4_n"], workers=n, smtp=smtp, name=f"s4-r{repeat}-x{n}")
        for n in alternate([1, 2], repeat)
    }


def memory(h: Harness, sizes: dict, repeat: int) -> dict:
    return {
        system: drain(h, system, sizes["s5_n"], name=f"s5-r{repeat}-{system}")
        for system in alternate(["project", "celery"], repeat)
    }
