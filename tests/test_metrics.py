"""/metrics: the fleet's figures for Prometheus, behind a bearer token (local Redis, DB 13)."""

from datetime import timedelta

import pytest
import redis.asyncio
from asgiref.sync import async_to_sync
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from invitations import liveness
from invitations import queries as invitation_queries
from invitations.conf import app_settings
from invitations.models import Invitation
from invitations.throttle import send_gate
from tests.redis_server import wake_ups_waiting

pytestmark = pytest.mark.django_db
Status = Invitation.Status
TOKEN = "scrape-test-token"


@pytest.fixture
def token(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "METRICS_TOKEN": TOKEN}


def scrape(client) -> dict[tuple[str, tuple], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")  # Prometheus' text format
    families = text_string_to_metric_families(response.content.decode())
    return {(s.name, tuple(sorted(s.labels.items()))): s.value for f in families for s in f.samples}


@async_to_sync
async def worker_beats(count: int) -> None:
    """`count` worker processes beat, as each does every few seconds."""
    client = redis.asyncio.from_url(app_settings.REDIS_URL)
    for process in range(count):
        await client.set(f"{app_settings.KEY_PREFIX}:invitations:alive:host:{process}", 1, ex=9)
    await liveness.beat(client)  # this process's own beat: one more
    await client.aclose()


def test_without_a_token_configured_there_is_no_metrics_page(client):
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_a_scrape_without_the_token_is_refused(client, token):
    missing = client.get("/metrics")
    wrong = client.get("/metrics", headers={"Authorization": "Bearer not-the-token"})

    assert (missing.status_code, missing["WWW-Authenticate"]) == (401, 'Bearer realm="metrics"')
    assert wrong.status_code == 403
    assert b"invitations_" not in missing.content + wrong.content


def test_a_scrape_shows_the_fleet(client, token, redis_client):
    now = timezone.now()
    Invitation.objects.create(email="a@example.com", created=now - timedelta(minutes=2))
    Invitation.objects.create(email="b@example.com", status=Status.FAILED)
    Invitation.objects.create(
        email="c@example.com", status=Status.SENT, created=now - timedelta(seconds=1.7), sent=now
    )
    Invitation.objects.create(
        email="d@example.com", status=Status.ACCEPTED, created=now - timedelta(seconds=40.2), sent=now
    )
    Invitation.objects.create(  # sent before the window
        email="e@example.com",
        status=Status.SENT,
        created=now - timedelta(hours=2),
        sent=now - timedelta(hours=1),
    )
    worker_beats(2)
    wake_ups_waiting(3)
    send_gate().pause(90)

    figures = scrape(client)

    by_status = {status: figures["invitations_by_status", (("status", status),)] for status in Status.values}
    assert by_status == {
        **dict.fromkeys(Status.values, 0),
        "pending": 1,
        "failed": 1,
        "sent": 2,
        "accepted": 1,
    }
    assert 120 <= figures["invitations_oldest_pending_seconds", ()] < 180
    assert figures["invitations_workers_alive", ()] == 3
    assert figures["invitations_channel_depth", ()] == 3
    assert 85 < figures["invitations_provider_pause_seconds", ()] <= 90
    assert figures["invitations_redis_up", ()] == 1
    latency = {
        le: figures["invitations_send_latency_seconds_bucket", (("le", le),)]
        for le in ["1.0", "2.5", "60.0", "+Inf"]
    }
    assert latency == {"1.0": 0, "2.5": 1, "60.0": 2, "+Inf": 2}
    assert figures["invitations_send_latency_seconds_gcount", ()] == 2
    assert figures["invitations_send_latency_seconds_gsum", ()] == pytest.approx(41.9, abs=0.01)


def test_an_idle_fleet_reports_zeros(client, token, redis_client):
    figures = scrape(client)

    assert figures["invitations_oldest_pending_seconds", ()] == 0
    assert figures["invitations_workers_alive", ()] == 0
    assert figures["invitations_send_latency_seconds_gcount", ()] == 0
    assert figures["invitations_provider_pause_seconds", ()] == 0


def test_without_redis_the_database_figures_still_come(client, token, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "REDIS_URL": "redis://127.0.0.1:1/0"}  # nothing listens
    Invitation.objects.create(email="a@example.com", status=Status.FAILED)

    figures = scrape(client)

    assert figures["invitations_redis_up", ()] == 0
    assert figures["invitations_by_status", (("status", "failed"),)] == 1
    assert ("invitations_workers_alive", ()) not in figures


def test_a_large_status_is_counted_up_to_a_limit_then_estimated(client, token, redis_client, monkeypatch):
    monkeypatch.setattr(invitation_queries, "EXACT_COUNT", 2)
    for n in range(5):
        Invitation.objects.create(email=f"f{n}@example.com", status=Status.FAILED)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE invitations_invitation")

    with CaptureQueriesContext(connection) as queries:
        figures = scrape(client)

    failed = figures["invitations_by_status", (("status", "failed"),)]
    if connection.vendor == "postgresql":
        assert failed >= 3  # counted up to 3, then PostgreSQL's estimate
        counts = [q["sql"] for q in queries if "COUNT(*)" in q["sql"]]  # of a status; not the latency
        assert counts
        assert all("LIMIT 3" in sql for sql in counts), counts
    else:  # SQLite counts: a database of that kind is small
        assert failed == 5
