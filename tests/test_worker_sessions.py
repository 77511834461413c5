"""The workers purge expired sessions: nobody has to run clearsessions."""

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connections
from django.utils import timezone

from invitations import redrive
from tests.test_worker import run_worker_until

pytestmark = pytest.mark.django_db(transaction=True)


def session(expires_in: timedelta) -> str:
    store = SessionStore()
    store["seen"] = True
    store.create()
    Session.objects.filter(session_key=store.session_key).update(expire_date=timezone.now() + expires_in)
    return store.session_key


def within(seconds: float, condition):
    deadline = time.monotonic() + seconds

    def holds() -> bool:
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        return condition()

    return holds


def test_a_running_worker_deletes_expired_sessions_and_keeps_live_ones(channel_layer):
    expired = [session(timedelta(minutes=-1)) for _ in range(3)]
    live = session(timedelta(hours=1))

    with ThreadPoolExecutor(1) as database:  # the condition is checked on the worker's event loop

        def gone() -> bool:
            return not database.submit(Session.objects.filter(session_key__in=expired).exists).result()

        run_worker_until(channel_layer, within(10, gone))
        database.submit(connections.close_all).result()

    assert list(Session.objects.values_list("session_key", flat=True)) == [live]


def test_sessions_are_left_alone_when_the_purge_is_off(channel_layer, settings, monkeypatch):
    settings.INVITATIONS = {**settings.INVITATIONS, "SESSION_PURGE_INTERVAL": 0, "SWEEP_INTERVAL": 0.01}
    expired = session(timedelta(minutes=-1))
    swept = []
    redrive_once = redrive.invitations_redrive
    monkeypatch.setattr(redrive, "invitations_redrive", lambda: swept.append(1) or redrive_once())

    run_worker_until(channel_layer, within(10, lambda: len(swept) >= 2))

    assert list(Session.objects.values_list("session_key", flat=True)) == [expired]
