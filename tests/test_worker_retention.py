"""Under RETENTION_DAYS the workers purge: once a day for the whole fleet (a Redis lock)."""

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from invitations import retention
from invitations.conf import app_settings
from invitations.models import Invitation
from tests.redis_server import require_redis
from tests.test_worker import run_worker_until
from tests.test_worker_sessions import within

Status = Invitation.Status


@pytest.fixture
def redis_client():
    client = require_redis(app_settings.REDIS_URL)
    client.delete(retention.lock_key())
    yield client
    client.delete(retention.lock_key())
    client.close()


def ended_days_ago(email: str, days: int) -> Invitation:
    return Invitation.objects.create(
        email=email, status=Status.REVOKED, ended=timezone.now() - timedelta(days=days)
    )


@pytest.mark.django_db(transaction=True)
def test_a_running_worker_purges_what_ended_before_the_retention(channel_layer, settings, redis_client):
    settings.INVITATIONS = {**settings.INVITATIONS, "RETENTION_DAYS": 30}
    old, recent = ended_days_ago("old@example.com", 31), ended_days_ago("recent@example.com", 29)

    with ThreadPoolExecutor(1) as database:  # the condition is checked on the worker's event loop

        def gone() -> bool:
            return not database.submit(Invitation.objects.filter(pk=old.pk).exists).result()

        run_worker_until(channel_layer, within(10, gone))
        database.submit(connections.close_all).result()

    assert list(Invitation.objects.all()) == [recent]
    assert redis_client.ttl(retention.lock_key()) > 23 * 3600  # nobody else purges today


@pytest.mark.django_db
def test_only_one_worker_of_the_fleet_purges_a_day(settings, redis_client):
    settings.INVITATIONS = {**settings.INVITATIONS, "RETENTION_DAYS": 30}
    ended_days_ago("old@example.com", 31)
    assert retention.invitations_purge_daily() == {"revoked": 1}
    ended_days_ago("older@example.com", 40)

    assert retention.invitations_purge_daily() is None  # another worker, the same day

    assert Invitation.objects.count() == 1


@pytest.mark.django_db
def test_a_failed_purge_lets_another_worker_try(settings, redis_client, monkeypatch):
    settings.INVITATIONS = {**settings.INVITATIONS, "RETENTION_DAYS": 30}
    ended_days_ago("old@example.com", 31)

    def broken(**kwargs):
        raise RuntimeError("database went away")

    with monkeypatch.context() as patch:
        patch.setattr(retention, "invitations_purge", broken)
        with pytest.raises(RuntimeError):
            retention.invitations_purge_daily()

    assert retention.invitations_purge_daily() == {"revoked": 1}


@pytest.mark.django_db
def test_without_a_retention_nothing_is_purged(redis_client):
    ended_days_ago("old@example.com", 3650)

    assert retention.invitations_purge_daily() is None
    assert Invitation.objects.count() == 1
    assert not redis_client.exists(retention.lock_key())
