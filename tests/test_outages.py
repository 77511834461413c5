"""A database that cannot be reached: staff get a clear 503 that says to try again, not a 500."""

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import OperationalError, connection
from django.test import Client

from invitations import services
from invitations.models import Invitation

pytestmark = pytest.mark.django_db


def unreachable(*args, **kwargs):
    raise OperationalError('connection to server at "127.0.0.1", port 5432 failed: Connection refused')


@pytest.fixture
def staff_without_raising(staff):
    client = Client(raise_request_exception=False)  # as a browser sees it
    client.force_login(staff)
    return client


def test_a_staff_post_during_an_outage_is_a_503_that_says_to_try_again(staff_without_raising, monkeypatch):
    monkeypatch.setattr(services, "invitations_screen", unreachable)

    response = staff_without_raising.post("/invites/new/", {"email": "ada@example.com"})

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    assert "Please try again in a minute." in response.content.decode()
    monkeypatch.undo()
    assert not Invitation.objects.exists()


def test_a_page_whose_session_cannot_be_read_is_a_503_too(staff_without_raising, monkeypatch):
    monkeypatch.setattr(SessionStore, "load", unreachable)

    response = staff_without_raising.get("/invites/")

    assert response.status_code == 503


def test_other_errors_are_still_djangos_500(staff_without_raising, monkeypatch):
    monkeypatch.setattr(services, "invitations_screen", lambda **kwargs: 1 / 0)

    response = staff_without_raising.post("/invites/new/", {"email": "ada@example.com"})

    assert response.status_code == 500
    assert "Please try again" not in response.content.decode()


def connection_refused_by_the_pool(params):
    """What the database layer raises when it cannot get a connection: psycopg_pool's
    PoolTimeout when every pooled PostgreSQL connection is busy (Django wraps it)."""
    if connection.vendor == "postgresql":
        from psycopg_pool import PoolTimeout

        raise PoolTimeout("couldn't get a connection after 10.00 sec")
    raise connection.Database.OperationalError("unable to open database file")


@pytest.mark.django_db(transaction=True)
def test_a_busy_connection_pool_is_a_503_not_a_500(staff_without_raising, monkeypatch):
    connection.close()  # the next request gets its connection anew
    monkeypatch.setattr(connection, "get_new_connection", connection_refused_by_the_pool)

    response = staff_without_raising.get("/invites/")

    assert response.status_code == 503
    assert response["Retry-After"] == "30"
