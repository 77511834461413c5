"""The fleet's figures in Prometheus' text format, for /metrics: read from the database and
Redis at each scrape, so one scrape of any web process sees every worker."""

from datetime import timedelta

import redis
from django.db import models
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.utils import floatToGoString

from invitations import batches, liveness, throttle
from invitations.conf import app_settings
from invitations.models import Invitation

CONTENT_TYPE = CONTENT_TYPE_LATEST
# The recent send latency (commit -> sent) covers the mails sent in this window.
LATENCY_WINDOW = timedelta(minutes=5)
LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300]


def exposition() -> bytes:
    """This scrape's figures in the text format (a registry per scrape: nothing is kept)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector())
    return generate_latest(registry)


class FleetCollector:
    """Gauges of the invitations in the database and of the workers and channel in Redis."""

    def collect(self):
        yield from _database_metrics()
        yield from _redis_metrics()


def _database_metrics():
    by_status = GaugeMetricFamily("invitations_by_status", "Invitations in each status.", labels=["status"])
    for status, count in Invitation.objects.counts_by_status().items():
        by_status.add_metric([status], count)
    yield by_status
    oldest = Invitation.objects.oldest_pending()  # the counts by status are above
    age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
    yield GaugeMetricFamily(
        "invitations_oldest_pending_seconds",
        "Age of the oldest pending or sending invitation (0: none).",
        age,
    )
    yield _latency()


def _latency() -> GaugeHistogramMetricFamily:
    """Commit -> sent of the invitations sent in the last LATENCY_WINDOW: one aggregate over
    the range of `sent` times, counted per bucket by the database."""
    took = models.ExpressionWrapper(
        models.F("sent") - models.F("created"), output_field=models.DurationField()
    )
    recent = Invitation.objects.sent_since(timezone.now() - LATENCY_WINDOW).annotate(took=took)
    counts = recent.aggregate(
        **{
            f"le{n}": models.Count("pk", filter=models.Q(took__lte=timedelta(seconds=le)))
            for n, le in enumerate(LATENCY_BUCKETS)
        },
        total=models.Count("pk"),
        took_sum=models.Sum("took"),
    )
    buckets = [(floatToGoString(le), counts[f"le{n}"]) for n, le in enumerate(LATENCY_BUCKETS)]
    total_seconds = counts["took_sum"].total_seconds() if counts["took_sum"] else 0.0
    return GaugeHistogramMetricFamily(
        "invitations_send_latency_seconds",
        f"Commit to sent of the invitations sent in the last {LATENCY_WINDOW.seconds} seconds.",
        buckets=[*buckets, ("+Inf", counts["total"])],
        gsum_value=total_seconds,
    )


def _redis_metrics():
    up = GaugeMetricFamily("invitations_redis_up", "1 when Redis answered this scrape.")
    try:
        with liveness.client().pipeline() as pipe:
            pipe.zcard(batches.channel_key(app_settings.KEY_PREFIX, app_settings.CHANNEL))
            pipe.pttl(throttle.pause_key(app_settings.KEY_PREFIX))
            depth, pause = pipe.execute()
        alive = liveness.workers_alive()
    except redis.RedisError:
        up.add_metric([], 0)
        yield up
        return
    up.add_metric([], 1)
    yield up
    yield GaugeMetricFamily("invitations_workers_alive", "Worker processes that beat lately.", alive)
    yield GaugeMetricFamily("invitations_channel_depth", "Wake-ups waiting in the worker channel.", depth)
    yield GaugeMetricFamily(
        "invitations_provider_pause_seconds",
        "Seconds left of a pause the mail provider asked for (0: none).",
        pause / 1000 if pause > 0 else 0.0,
    )
