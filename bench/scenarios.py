"""The six scenarios of issue 5. Each function does one repeat of every system, side by side,
and returns {system: {metric: value, ...}}."""

import asyncio
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from functools import partial

from asgiref.sync import sync_to_async

from bench.client import PostLoad, Session
from bench.harness import BENCH_SETTINGS, PRODUCT_SETTINGS, STAFF_PASSWORD, STAFF_USER, Harness, wait_ready
from bench.procs import CpuByRole, MachineBusy, PgConnections, Process, RssSampler, wait_for
from bench.stats import percentile


def alternate(systems: list, repeat: int) -> list:
    """The systems in turn, the other way round on even repeats, so neither always goes first."""
    return systems if repeat % 2 else systems[::-1]


def emails(label: str, count: int) -> list[str]:
    return [f"{label}-{index}@example.com" for index in range(count)]


# --- 1. POST latency ------------------------------------------------------------------------


def post_latency(h: Harness, sizes: dict, repeat: int) -> dict:
    results = {}
    systems = [
        ("project", PRODUCT_SETTINGS, "/invites/new/"),
        ("inline", BENCH_SETTINGS, "/bench/inline/new/"),
    ]
    for system, settings_module, path in alternate(systems, repeat):
        h.reset()
        h.sink.configure(connection_ms=0, message_ms=sizes["s1_smtp_ms"])
        web, port = h.start_web(settings_module, f"s1-r{repeat}-{system}-web")
        workers = []
        if system == "project":  # sending inside the view needs no worker
            workers = h.start_workers("project", 1, f"s1-r{repeat}-{system}-worker", queue_knobs=False)
        try:
            results[system] = _post_phases(h, port, path, sizes, label=f"s1r{repeat}{system}")
        finally:
            h.processes.stop(web, *workers)
        results[system]["error_lines"] = server_errors(web.output())
    return results


def server_errors(log: str) -> dict:
    """The exception lines of a web log (`psycopg.OperationalError: …`), counted."""
    found = Counter(
        line.strip()[:160] for line in log.splitlines() if re.match(r"^[\w.]+(Error|Exception): ", line)
    )
    return dict(found.most_common(5))


def _post_phases(h: Harness, port: int, path: str, sizes: dict, *, label: str) -> dict:
    session = Session(port)
    session.login(STAFF_USER, STAFF_PASSWORD)
    token = session.form_token("/invites/new/")
    load = partial(PostLoad, port=port, path=path, cookies=session.cookies, token=token)
    session.close()
    per_request = sizes["s1_smtp_ms"] / 1000 + 0.5
    load(label=f"{label}w").run(total=sizes["s1_warmup"], concurrency=1, deadline_s=60 + 5 * per_request)
    result = {}
    for concurrency, total in ((1, sizes["s1_requests_c1"]), (10, sizes["s1_requests_c10"])):
        connections = PgConnections(h.config.pg_url, h.config.database)
        try:
            run = load(label=f"{label}c{concurrency}").run(
                total=total, concurrency=concurrency, deadline_s=60 + total * per_request / concurrency
            )
        finally:
            result[f"c{concurrency}_pg_connections"] = connections.stop()
        if len(run["errors"]) > total / 2 or run["timed_out"]:  # the setup is broken, not just slow
            raise RuntimeError(
                f"{label} c={concurrency}: {len(run['errors'])} errors, e.g. {run['errors'][:2]}"
            )
        # Failed requests (not 302) stay in the percentiles and are counted on their own.
        result[f"c{concurrency}_errors"] = len(run["errors"])
        ms = [latency * 1000 for latency in run["latencies"]]
        result[f"c{concurrency}_p50_ms"] = percentile(ms, 50)
        result[f"c{concurrency}_p99_ms"] = percentile(ms, 99)
        result[f"c{concurrency}_rps"] = len(ms) / run["wall_s"]
    return result


# --- 2, 4, 5. Draining a backlog ----------------------------------------------------------


def enqueue(h: Harness, system: str, addresses: list[str]) -> None:
    """Pre-create the rows and queue one message each; check that all of them are queued."""
    from django.db import transaction

    from bench.celery_app import send_invitation
    from invitations import services
    from invitations.models import Invitation

    if system == "project":
        results = services.invitations_create_many(emails=addresses, sender=None)
        refused = [email for email, result in results if result != services.BulkResult.QUEUED]
        if refused:
            raise RuntimeError(f"{len(refused)} address(es) not queued, e.g. {refused[:3]}")
        depth = h.channel_depth()
    else:
        with transaction.atomic():
            rows = Invitation.objects.bulk_create(
                [Invitation(email=email) for email in addresses], batch_size=500
            )
        with send_invitation.app.producer_or_acquire() as producer:
            for row in rows:
                send_invitation.apply_async((row.pk,), producer=producer)
        depth = h.celery_depth()
    if depth != len(addresses):
        raise RuntimeError(f"{system}: {depth} of {len(addresses)} messages queued")


def finished() -> int:
    """Invitations that reached a final delivery state (sent or failed)."""
    figures = stamps()
    return figures["n_sent"] + figures["n_failed"]


def _finished_all(count: int) -> bool:
    return finished() >= count


def stamps() -> dict:
    from django.db.models import Count, Max, Min, Q

    from invitations.models import Invitation

    Status = Invitation.Status
    return Invitation.objects.aggregate(
        n_sent=Count("pk", filter=Q(status=Status.SENT)),
        n_failed=Count("pk", filter=Q(status=Status.FAILED)),
        first=Min("sent"),
        last=Max("sent"),
    )


def steady_throughput() -> float:
    """Mails per second while every worker was sending: from the first `sent` of the worker that
    started last to the last `sent` of the one that finished first. The workers are started
    together, but each takes its own time to import Django and warm up; until the last is ready
    the others drain alone, and that start-up is not how fast they send together. With one
    worker, the whole span."""
    from invitations.models import Invitation

    by_process = defaultdict(list)  # a consumer is named host:pid:random
    for claimed_by, sent in Invitation.objects.filter(sent__isnull=False).values_list("claimed_by", "sent"):
        by_process[claimed_by.rpartition(":")[0]].append(sent)
    if not by_process:
        return float("nan")
    start = max(min(times) for times in by_process.values())
    end = min(max(times) for times in by_process.values())
    inside = sum(start <= sent <= end for times in by_process.values() for sent in times)
    span = (end - start).total_seconds()
    return (inside - 1) / span if span > 0 else float("nan")


def drain(
    h: Harness,
    *,
    system: str,
    count: int,
    workers: int,
    smtp: tuple,
    name: str,
    rss: bool = False,
    on_ready: Callable[[list[Process]], None] | None = None,
) -> dict:
    """Queue `count` invitations, start the workers, time the first to the last `sent` stamp."""
    connection_ms, message_ms = smtp
    h.reset()
    h.sink.configure(connection_ms=connection_ms, message_ms=message_ms)
    enqueue(h, system, emails(name, count))
    processes = h.launch_workers(system, workers, name, queue_knobs=True)
    sampler = RssSampler([process.pid for process in processes]) if rss else None
    budget = 120 + 1.5 * count * (connection_ms + message_ms + 20) / 1000 / workers
    try:
        wait_ready(processes, system)
        ready_mb = sampler.now_mb() if sampler else None
        if on_ready:
            on_ready(processes)
        busy = MachineBusy()
        by_role = CpuByRole({"workers": [process.pid for process in processes], "sink": [h.sink.process.pid]})
        wait_for(lambda: finished() >= count, timeout=budget, message=name, interval=0.2)
        busy_cores, busy_seconds, role_seconds = busy.cores(), busy.cpu_seconds(), by_role.seconds()
    finally:
        peak_mb = sampler.stop() if sampler else None
        h.processes.stop(*processes)
    figures, sink = stamps(), h.sink.stats()
    span = (figures["last"] - figures["first"]).total_seconds()
    logs = "".join(process.output() for process in processes)
    result = {
        "throughput": (count - 1) / span if span else float("nan"),
        "steady_throughput": steady_throughput(),
        "span_s": span,
        "smtp_connections": sink["connections"],
        "exactly_once": figures["n_sent"] == count == sink["accepted"] == sink["distinct_recipients"],
        "duplicates_sent": sink["duplicates"],
        "failed": figures["n_failed"],
        "skipped_messages": logs.count("outcome=skipped"),
        "machine_busy_cores": busy_cores,
        # Every process's CPU (workers, sink, PostgreSQL, Redis, the bench) per mail delivered.
        "machine_cpu_ms_per_mail": busy_seconds / count * 1000,
        **{f"{role}_cpu_ms_per_mail": seconds / count * 1000 for role, seconds in role_seconds.items()},
    }
    if sampler:
        result.update(peak_rss_mb=peak_mb, ready_rss_mb=ready_mb)
    return result


def worker_throughput(h: Harness, sizes: dict, repeat: int) -> dict:
    results = {}
    for case, smtp, count in (("fast", (0, 0), sizes["s2_n"]), ("slow", (150, 200), sizes["s2_slow_n"])):
        for system in alternate(["project", "celery"], repeat):
            results[f"{case}_{system}"] = drain(
                h, system=system, count=count, workers=1, smtp=smtp, name=f"s2-r{repeat}-{case}-{system}"
            )
    return results


def scaling(h: Harness, sizes: dict, repeat: int) -> dict:
    smtp = (0, sizes["s4_smtp_ms"])
    return {
        f"workers_{workers}": drain(
            h,
            system="project",
            count=sizes["s4_n"],
            workers=workers,
            smtp=smtp,
            name=f"s4-r{repeat}-x{workers}",
        )
        for workers in alternate([1, 2], repeat)
    }


def memory(h: Harness, sizes: dict, repeat: int) -> dict:
    return {
        system: drain(
            h,
            system=system,
            count=sizes["s5_n"],
            workers=1,
            smtp=(0, 0),
            name=f"s5-r{repeat}-{system}",
            rss=True,
        )
        for system in alternate(["project", "celery"], repeat)
    }


# --- 3. End-to-end latency at a steady rate ------------------------------------------------


def end_to_end(h: Harness, sizes: dict, repeat: int) -> dict:
    results = {}
    for system in alternate(["project", "celery"], repeat):
        name = f"s3-r{repeat}-{system}"
        h.reset()
        h.sink.configure(connection_ms=0, message_ms=sizes["s3_smtp_ms"])
        workers = h.start_workers(system, 1, name, queue_knobs=False)
        count = int(sizes["s3_rate"] * sizes["s3_seconds"])
        try:
            achieved, committed = _create_steadily(system, emails(name, count), rate=sizes["s3_rate"])
            wait_for(partial(_finished_all, count), timeout=120, message=name, interval=0.2)
        finally:
            h.processes.stop(*workers)
        ms, sink = _stamp_latencies_ms(committed), h.sink.stats()
        results[system] = {
            "e2e_p50_ms": percentile(ms, 50),
            "e2e_p99_ms": percentile(ms, 99),
            "achieved_rate": achieved,
            "exactly_once": len(ms) == count == sink["distinct_recipients"] == sink["accepted"],
        }
    return results


def _create_steadily(system: str, addresses: list[str], *, rate: float) -> tuple[float, dict[str, float]]:
    """Create one invitation every 1/rate s on a fixed schedule (open loop), each in its own
    transaction; return the rate achieved and when each address's transaction committed.

    In a thread under an event loop, as daphne runs a sync view: without one, every
    async_to_sync would start an event loop, and channels-redis a Redis connection, of its own.
    """

    async def as_in_the_web_process() -> tuple[float, dict[str, float]]:
        return await sync_to_async(_create_on_schedule, thread_sensitive=False)(system, addresses, rate)

    return asyncio.run(as_in_the_web_process())


def _create_on_schedule(system: str, addresses: list[str], rate: float) -> tuple[float, dict[str, float]]:
    from django.db import connection, transaction

    from bench.celery_app import send_invitation
    from invitations import services
    from invitations.models import Invitation

    committed: dict[str, float] = {}

    def mark_commit(email: str) -> None:
        committed[email] = time.time()  # wall clock: the worker stamps `sent` with it

    start = time.monotonic()
    try:
        for index, email in enumerate(addresses):
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)  # pacing the load, not synchronising with it
            with transaction.atomic():
                # Registered first, so it runs first: the moment of the commit, before any
                # publish (on_commit callbacks run in order, once the COMMIT has returned).
                transaction.on_commit(partial(mark_commit, email))
                if system == "project":
                    services.invitation_create(email=email, sender=None)
                else:
                    row = Invitation.objects.create(email=email)
                    transaction.on_commit(partial(send_invitation.delay, row.pk))
    finally:
        connection.close()  # this thread's own
    elapsed = time.monotonic() - start
    return (len(addresses) - 1) / elapsed if elapsed else float("nan"), committed


def _stamp_latencies_ms(committed: dict[str, float]) -> list[float]:
    """From each row's commit to its stamp."""
    from invitations.models import Invitation

    rows = Invitation.objects.filter(status=Invitation.Status.SENT).values_list("email", "sent")
    return [(sent.timestamp() - committed[email]) * 1000 for email, sent in rows]


# --- 6. Bulk enqueue ----------------------------------------------------------------------


def bulk_enqueue(h: Harness, sizes: dict, repeat: int) -> dict:
    count = sizes["s6_n"]
    results = {}
    systems = [("project", _enqueue_bulk), ("per_send", _enqueue_one_send_each)]
    for system, enqueue_all in alternate(systems, repeat):
        h.reset()
        began = time.perf_counter()
        publish_s = enqueue_all(emails(f"s6-r{repeat}-{system}", count))
        total_s = time.perf_counter() - began
        depth = h.channel_depth()
        if depth != count:
            raise RuntimeError(f"s6 {system}: {depth} of {count} messages on the channel")
        results[system] = {"rate": count / total_s, "total_s": total_s}
        if publish_s:  # not timed if the product stops calling queue.invitations_publish
            results[system]["publish_rate"] = count / publish_s
    h.reset()
    return results


def _enqueue_bulk(addresses: list[str]) -> float | None:
    """services.invitations_create_many; returns the seconds spent publishing (timed around the call)."""
    from invitations import queue, services

    publish = queue.invitations_publish
    spent = []

    def timed_publish(**kwargs):
        began = time.perf_counter()
        try:
            return publish(**kwargs)
        finally:
            spent.append(time.perf_counter() - began)

    queue.invitations_publish = timed_publish
    try:
        services.invitations_create_many(emails=addresses, sender=None)
    finally:
        queue.invitations_publish = publish
    return sum(spent) or None


def _enqueue_one_send_each(addresses: list[str]) -> float:
    """The same bulk insert, then one `async_to_sync(layer.send)` per invitation."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from invitations.models import Invitation
    from invitations.queue import SEND_MESSAGE_TYPE

    now = timezone.now()
    with transaction.atomic():
        rows = Invitation.objects.bulk_create(
            [Invitation(email=email, created=now, published_at=now) for email in addresses], batch_size=500
        )
    layer = get_channel_layer()
    began = time.perf_counter()
    for row in rows:
        async_to_sync(layer.send)(settings.INVITATION_CHANNEL, {"type": SEND_MESSAGE_TYPE, "id": row.pk})
    return time.perf_counter() - began


SCENARIOS = {
    1: ("s1", post_latency),
    2: ("s2", worker_throughput),
    3: ("s3", end_to_end),
    4: ("s4", scaling),
    5: ("s5", memory),
    6: ("s6", bulk_enqueue),
}
