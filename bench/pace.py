"""Scenarios 7, 8 and 9 of issue 16: the fleet's send rate, the priority lane past a bulk backlog
that drains at that rate, and a provider's HTTP API instead of SMTP.

Each scenario function does one repeat of every system, side by side, and returns
{system: {metric: value, ...}}.
"""

import bisect
import contextlib
import statistics
import time
from functools import partial

from bench.backlog import alternate, drain, emails, enqueue, finished, stamps
from bench.harness import Harness
from bench.scenarios import create_steadily, percentile
from loopback.fake_provider import FakeProvider
from loopback.processes import wait_for

LANE_GRACE = 10  # s: how long the singles' wait is followed after the last one is created
TOKEN = "t0ken"  # noqa: S105 - the fake provider's


def sent_times(emails: list[str] | None = None) -> dict[str, float]:
    """Each sent row's `sent` stamp (of these addresses only, if given), by address."""
    from invitations.models import Invitation

    rows = Invitation.objects.filter(status=Invitation.Status.SENT)
    rows = rows.filter(email__in=emails) if emails is not None else rows
    return {email: sent.timestamp() for email, sent in rows.values_list("email", "sent")}


def busiest_second(times: list[float]) -> int:
    """The most mails in any 1 s window [t, t + 1) starting at a mail."""
    times = sorted(times)
    return max((bisect.bisect_left(times, t + 1) - index for index, t in enumerate(times)), default=0)


# --- 7. Three workers keep together to the fleet's send rate ----------------------------------


def send_rate(h: Harness, sizes: dict, repeat: int) -> dict:
    rate = sizes["s7_rate"]
    count, limit = rate * sizes["s7_seconds"], f"{rate}/s"
    env = {"project": {"INVITATION_SEND_RATE": limit}, "celery": {"BENCH_CELERY_RATE_LIMIT": limit}}
    results = {}
    for system in alternate(["project", "celery"], repeat):
        name = f"s7-r{repeat}-{system}"
        # Celery's three workers under rate_limit send ~3–6/s in all, not 60: a budget to match.
        figures = drain(h, system, count, name=name, workers=3, env=env[system], budget=120 + count / 2)
        results[system] = {**figures, "max_1s": busiest_second(list(sent_times().values()))}
    return results


# --- 8. A single invite past a bulk backlog ---------------------------------------------------


def priority_lane(h: Harness, sizes: dict, repeat: int) -> dict:
    results, total = {}, sizes["s8_n"] + sizes["s8_singles"]
    for system in alternate(["project", "no_lane"], repeat):
        name = f"s8-r{repeat}-{system}"
        h.reset()
        enqueue(h, "project", emails(f"{name}-bulk", sizes["s8_n"]))
        singles = emails(f"{name}-single", sizes["s8_singles"])
        seconds, waiting = singles_past_backlog(h, system, singles, sizes, name=name)
        # Then the rest of the backlog through a worker without the rate, so every row is checked.
        workers = h.start_workers("project", 1, f"{name}-rest", queue_knobs=True)
        try:
            wait_for(partial(finished, total), timeout=180, message=f"{name}-rest", interval=0.2)
        finally:
            h.stop(*workers)
        figures, sink = stamps(), h.sink_stats()
        results[system] = {
            "single_p50_s": statistics.median(seconds),
            "single_p99_s": percentile(seconds, 99),
            "singles_waiting": waiting,
            "exactly_once": figures["n_sent"] == total == sink["accepted"] == sink["distinct_recipients"],
            "duplicates_sent": sink["duplicates"],
        }
    return results


def singles_past_backlog(
    h: Harness, system: str, singles: list[str], sizes: dict, *, name: str
) -> tuple[list[float], int]:
    """Create the singles, one every s8_every s, while s8_workers workers drain the backlog at the
    send rate; each single's seconds from its commit to `sent`, and how many were still queued
    LANE_GRACE s after the last was created (their seconds run up to then)."""
    rate = sizes["s8_rate"]
    paced = {"INVITATION_SEND_RATE": f"{rate}/s"}
    workers = h.start_workers("project", sizes["s8_workers"], name, queue_knobs=True, env=paced)
    try:
        wait_for(lambda: stamps()["n_sent"] >= rate, timeout=60, message=f"{name} to drain", interval=0.1)
        committed = create_steadily(system, singles, rate=1 / sizes["s8_every"])
        with contextlib.suppress(AssertionError):  # timed out: the others are still queued
            wait_for(lambda: len(sent_times(singles)) == len(singles), timeout=LANE_GRACE, interval=0.1)
        until, sent = time.time(), sent_times(singles)
    finally:
        h.stop(*workers)
    return [sent.get(email, until) - at for email, at in committed.items()], len(singles) - len(sent)


# --- 9. A provider's HTTP API -----------------------------------------------------------------


def provider_stats(fake: FakeProvider) -> dict:
    """What the fake provider accepted (one recipient a message), counted as the SMTP sink counts."""
    to = fake.recipients()
    return {"accepted": len(to), "distinct_recipients": len(set(to)), "duplicates": len(to) - len(set(to))}


def http_provider(h: Harness, sizes: dict, repeat: int) -> dict:
    results, count, latency_ms = {}, sizes["s9_n"], sizes["s9_latency_ms"]
    for system in alternate(["project", "celery"], repeat):
        with FakeProvider(postmark_token=TOKEN) as fake:
            fake.latency_ms = latency_ms
            env = {"EMAIL_URL": f"postmark://{TOKEN}@", "ANYMAIL_API_URL": fake.url}
            budget = 120 + 1.5 * count * (latency_ms + 20) / 1000
            delivered = partial(provider_stats, fake)
            name = f"s9-r{repeat}-{system}"
            results[system] = drain(h, system, count, name=name, env=env, budget=budget, delivered=delivered)
    return results
