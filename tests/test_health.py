"""/healthz against the local Redis (DB 13, this run's own key prefix)."""

import re
from datetime import timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from invitations.models import Invitation, InvitationQuerySet
from invitations.throttle import send_gate
from tests.redis_server import wake_ups_waiting

pytestmark = pytest.mark.django_db
KEYS = {
    "database",
    "redis",
    "worker",
    "pending",
    "failed",
    "oldest_pending_age",
    "worker_heartbeat_age",
    "queue_depth",
    "provider_pause",
    "healthy",
}


def test_healthy_pipeline_reports_its_figures(client, heartbeat):
    heartbeat()
    wake_ups_waiting(2)
    Invitation.objects.create(email="a@example.com", created=timezone.now() - timedelta(minutes=2))
    Invitation.objects.create(email="b@example.com", status=Invitation.Status.SENDING)
    Invitation.objects.create(email="c@example.com", status=Invitation.Status.FAILED)
    Invitation.objects.create(email="d@example.com", status=Invitation.Status.SENT)

    response = client.get("/healthz")

    assert response.status_code == 200
    assert "no-cache" in response["Cache-Control"]
    report = response.json()
    assert set(report) == KEYS
    assert report["healthy"] is True
    assert (report["database"], report["redis"], report["worker"]) == ("ok", "ok", "ok")
    assert (report["pending"], report["failed"], report["queue_depth"]) == (2, 1, 2)
    assert 120 <= report["oldest_pending_age"] < 180
    assert 0 <= report["worker_heartbeat_age"] < 5
    assert report["provider_pause"] is None


def test_empty_queue_has_no_oldest_pending_age(client, heartbeat):
    heartbeat()

    report = client.get("/healthz").json()

    assert (report["pending"], report["oldest_pending_age"], report["queue_depth"]) == (0, None, 0)


def test_missing_worker_heartbeat_is_unhealthy(client, redis_client):
    response = client.get("/healthz")

    assert response.status_code == 503
    report = response.json()
    assert (report["worker"], report["worker_heartbeat_age"], report["healthy"]) == ("missing", None, False)
    assert report["redis"] == "ok"


def test_stale_worker_heartbeat_is_unhealthy(client, heartbeat, settings):
    heartbeat(age=60)

    response = client.get("/healthz")

    assert response.status_code == 503
    assert response.json()["worker"] == "missing"
    assert response.json()["worker_heartbeat_age"] >= 60


def test_redis_down_is_unhealthy(client, redis_client, settings):
    settings.INVITATIONS = {
        **settings.INVITATIONS,
        "REDIS_URL": "redis://127.0.0.1:1/0",
    }  # nothing listens on port 1

    response = client.get("/healthz")

    assert response.status_code == 503
    report = response.json()
    assert set(report) == KEYS
    assert (report["redis"], report["worker"], report["queue_depth"]) == ("unavailable", "missing", None)
    assert report["provider_pause"] is None
    assert report["database"] == "ok"


def test_database_down_is_unhealthy(client, heartbeat, monkeypatch):
    heartbeat()

    def unavailable(self, *args, **kwargs):
        raise OperationalError("could not connect to server")

    monkeypatch.setattr(InvitationQuerySet, "queue_figures", unavailable)

    response = client.get("/healthz")

    assert response.status_code == 503
    report = response.json()
    assert (report["database"], report["pending"], report["failed"]) == ("unavailable", None, None)
    assert report["redis"] == "ok"


def test_a_providers_pause_is_shown_to_ops_and_staff_and_the_fleet_stays_healthy(
    client, staff_client, heartbeat, settings
):
    heartbeat()
    send_gate().pause(90)  # as a worker does when the provider says "too many"

    response = client.get("/healthz")

    assert response.status_code == 200
    report = response.json()
    assert report["healthy"] is True
    assert 85 < report["provider_pause"] <= 90
    page = staff_client.get("/invites/").content.decode()
    assert "Sending is paused: the mail provider asked to slow down." in page
    assert re.search(r"Invitations go out again in (89|90) s\.", page)


def test_the_board_says_nothing_of_a_pause_when_none_holds(staff_client, redis_client):
    assert "Sending is paused" not in staff_client.get("/invites/").content.decode()
