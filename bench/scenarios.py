"""Scenarios 1, 3 and 6 of issue 5; the backlog ones (2, 4, 5) are in bench/backlog.py, those of
issue 16 (7, 8, 9) in bench/pace.py.

Each scenario function does one repeat of every system, side by side, and returns
{system: {metric: value, ...}}.
"""

import asyncio
import statistics
import time
from functools import partial

from asgiref.sync import sync_to_async

from bench.backlog import alternate, emails, finished
from bench.client import Session
from bench.harness import BENCH_SETTINGS, PRODUCT_SETTINGS, STAFF_PASSWORD, STAFF_USER, Harness
from loopback.processes import wait_for


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (1–99), interpolating between the closest ranks as numpy does."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


# --- 1. POST latency ------------------------------------------------------------------------

# The web process's settings and the form's URL; the inline view sends before it answers.
POST_TO = {"project": (PRODUCT_SETTINGS, "/invites/new/"), "inline": (BENCH_SETTINGS, "/bench/inline/new/")}


def post_latency(h: Harness, sizes: dict, repeat: int) -> dict:
    results = {}
    for system in alternate(["project", "inline"], repeat):
        name, (settings_module, path) = f"s1-r{repeat}-{system}", POST_TO[system]
        h.reset(message_ms=sizes["s1_smtp_ms"])
        web, port = h.start_web(settings_module, f"{name}-web")
        workers = []
        if system == "project":  # sending inside the view needs no worker
            workers = h.start_workers("project", 1, f"{name}-worker", queue_knobs=False)
        session = Session(port)
        try:
            session.login(STAFF_USER, STAFF_PASSWORD)
            session.post_many(path, label=f"{name}-warm-up", count=sizes["s1_warmup"])
            ms, failed = session.post_many(path, label=name, count=sizes["s1_requests"])
        finally:
            session.close()
            h.stop(web, *workers)
        if failed > len(ms) / 2:  # the setup is broken, not just slow
            raise RuntimeError(f"{name}: {failed} of {len(ms)} POSTs did not redirect; see {web.log_path}")
        results[system] = {"c1_p50_ms": statistics.median(ms), "c1_p99_ms": percentile(ms, 99)}
        results[system]["failed_posts"] = failed
    return results


# --- 3. Commit to sent at a steady rate -----------------------------------------------------


def end_to_end(h: Harness, sizes: dict, repeat: int) -> dict:
    results = {}
    count = int(sizes["s3_rate"] * sizes["s3_seconds"])
    for system in alternate(["project", "celery"], repeat):
        name = f"s3-r{repeat}-{system}"
        h.reset(message_ms=sizes["s3_smtp_ms"])
        workers = h.start_workers(system, 1, name, queue_knobs=False)
        try:
            committed = create_steadily(system, emails(name, count), rate=sizes["s3_rate"])
            wait_for(partial(finished, count), timeout=120, message=name, interval=0.2)
        finally:
            h.stop(*workers)
        ms, sink = latencies_ms(committed), h.sink_stats()
        results[system] = {
            "e2e_p50_ms": statistics.median(ms),
            "e2e_p99_ms": percentile(ms, 99),
            "exactly_once": len(ms) == count == sink["distinct_recipients"] == sink["accepted"],
            "duplicates_sent": sink["duplicates"],
            "achieved_rate": (count - 1) / (max(committed.values()) - min(committed.values())),
        }
    return results


def create_steadily(system: str, addresses: list[str], *, rate: float) -> dict[str, float]:
    """Create one invitation every 1/rate s, each in its own transaction, as `system` does ("project",
    "celery", or scenario 8's "no_lane"); return when each committed.

    In a thread under an event loop, as daphne runs a sync view: without one, every
    async_to_sync would start an event loop, and channels-redis a Redis connection, of its own.
    """
    create = sync_to_async(_create_on_schedule, thread_sensitive=False)
    return asyncio.run(create(system, addresses, rate))


def _create_on_schedule(system: str, addresses: list[str], rate: float) -> dict[str, float]:
    from django.db import connection, transaction
    from django.utils import timezone

    from bench.celery_app import send_invitation
    from invitations import queue, services
    from invitations.models import Invitation

    committed: dict[str, float] = {}

    def mark_commit(email: str) -> None:
        committed[email] = time.time()  # wall clock: the worker stamps `sent` with it

    start = time.monotonic()
    try:
        for index, email in enumerate(addresses):
            time.sleep(max(0.0, start + index / rate - time.monotonic()))  # pacing the load (open loop)
            with transaction.atomic():
                # Registered first, so it runs first: the moment of the commit, before any
                # publish (on_commit callbacks run in order, once the COMMIT has returned).
                transaction.on_commit(partial(mark_commit, email))
                if system == "project":  # as the staff form does: published in the priority lane
                    services.invitation_create(email=email, sender=None)
                elif system == "celery":
                    row = Invitation.objects.create(email=email)
                    transaction.on_commit(partial(send_invitation.delay, row.pk))
                else:  # the same row published after the commit as bulk rows are: behind them
                    row = Invitation.objects.create(email=email, published_at=timezone.now())
                    transaction.on_commit(partial(queue.invitations_publish, invitation_ids=[row.pk]))
    finally:
        connection.close()  # this thread's own
    return committed


def latencies_ms(committed: dict[str, float]) -> list[float]:
    """From each row's commit to its `sent` stamp."""
    from invitations.models import Invitation

    rows = Invitation.objects.filter(status=Invitation.Status.SENT).values_list("email", "sent")
    return [(sent.timestamp() - committed[email]) * 1000 for email, sent in rows]


# --- 6. Bulk enqueue ------------------------------------------------------------------------


def bulk_enqueue(h: Harness, sizes: dict, repeat: int) -> dict:
    from invitations import services

    count, results = sizes["s6_n"], {}
    for system in alternate(["project", "per_send"], repeat):
        h.reset()
        addresses = emails(f"s6-r{repeat}-{system}", count)
        began = time.perf_counter()
        if system == "project":
            services.invitations_create_many(emails=addresses, sender=None)
        else:
            _create_and_send_each(addresses)
        elapsed = time.perf_counter() - began
        if h.queued("project") != count:
            raise RuntimeError(f"s6 {system}: {h.queued('project')} of {count} messages on the channel")
        results[system] = {"rate": count / elapsed}
    return results


def _create_and_send_each(addresses: list[str]) -> None:
    """The same bulk insert, then one `async_to_sync(layer.send)` per invitation."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from invitations.messages import SEND_MESSAGE_TYPE
    from invitations.models import Invitation

    now = timezone.now()
    with transaction.atomic():
        rows = Invitation.objects.bulk_create(
            [Invitation(email=email, created=now, published_at=now) for email in addresses], batch_size=500
        )
    layer = get_channel_layer()
    for row in rows:
        async_to_sync(layer.send)(settings.INVITATION_CHANNEL, {"type": SEND_MESSAGE_TYPE, "id": row.pk})
