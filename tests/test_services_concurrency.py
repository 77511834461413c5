"""The hourly limit holds when one sender's requests arrive at the same moment."""

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections

from invitations import services
from invitations.forms import InvitationForm
from invitations.models import Invitation

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def fresh_connection_pool():
    """A pool of its own for these tests. After eight threads had queued for its connections at
    once, psycopg_pool 3.3.3 could not replace connections that all died later (getconn timed
    out with every connection "available"): tests/test_settings.py kills them on purpose."""
    yield
    if hasattr(connection, "close_pool"):  # PostgreSQL's, with OPTIONS["pool"]
        connection.close_pool()


def at_once(count: int, work) -> list:
    """Run work(n) for n in range(count) on as many threads, released together."""
    start = threading.Barrier(count)

    def run(n: int):
        start.wait()
        try:
            return work(n)
        finally:
            connections.close_all()  # each thread's own connection

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_parallel_bulk_posts_of_one_sender_stay_within_the_hourly_limit(staff, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "RATE_LIMIT": 100}

    def post_bulk(n: int):
        emails = [f"p{n}-{i}@example.com" for i in range(100)]
        return services.invitations_create_many(emails=emails, sender=staff)

    results = at_once(8, post_bulk)

    queued = sum(result == services.BulkResult.QUEUED for batch in results for _, result in batch)
    assert Invitation.objects.filter(sender=staff).count() == 100
    assert queued == 100


def test_parallel_single_invites_of_one_sender_stay_within_the_hourly_limit(staff, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "RATE_LIMIT": 3}

    def post_one(n: int) -> bool:
        form = InvitationForm({"email": f"one{n}@example.com"}, sender=staff)
        if not form.is_valid():
            return False
        try:
            form.save()
        except services.InvitationRefused:
            return False
        return True

    saved = at_once(8, post_one)

    assert Invitation.objects.filter(sender=staff).count() == 3
    assert sum(saved) == 3
