"""The draining worker, with the in-memory channel layer and a recording application."""

import asyncio
import logging
import signal
import threading
import time
from collections import deque

import pytest
from django.core.management import CommandError, call_command
from django.db import OperationalError, connections

from invitations import live, messages, queue, redrive
from invitations.conf import app_settings
from invitations.delivery import Collaborators
from invitations.models import Invitation
from invitations.worker import InvitationWorker, WorkerStopping


class FlakyLayer:
    """Fails the first `failures` receives, as a Redis that is away, then answers."""

    def __init__(self, failures: int):
        self.failures = failures

    async def receive(self, channel):
        if self.failures:
            self.failures -= 1
            raise ConnectionError("Redis went away")
        return {"type": "invitation.send", "id": 1}


def make_worker(layer, application=None, **options) -> InvitationWorker:
    worker = InvitationWorker(
        application=application, channels=["send-invite"], channel_layer=layer, **options
    )
    worker.stopping = asyncio.Event()
    return worker


def test_receive_outlives_a_channel_layer_outage(monkeypatch):
    async def scenario():
        worker = make_worker(FlakyLayer(failures=2))
        monkeypatch.setattr(worker, "pause", lambda seconds: asyncio.sleep(0))
        return await worker.receive("send-invite")

    assert asyncio.run(scenario()) == {"type": "invitation.send", "id": 1}


def test_waiting_consumer_is_released_when_the_worker_stops(channel_layer):
    async def scenario():
        worker = make_worker(channel_layer)
        waiting = asyncio.ensure_future(worker.next_message("send-invite", deque()))
        await asyncio.sleep(0.01)
        worker.stopping.set()
        with pytest.raises(WorkerStopping):
            await asyncio.wait_for(waiting, timeout=2)

    asyncio.run(scenario())


def test_a_crashed_consumer_is_replaced_and_the_slot_ends_on_stop():
    calls = []

    async def application(scope, receive, send):
        calls.append(scope)
        if len(calls) == 1:
            raise RuntimeError("consumer bug")
        await receive()  # the worker is stopping: raises WorkerStopping

    async def stop_when_asked(worker):
        worker.stopping.set()
        raise WorkerStopping

    async def scenario():
        worker = make_worker(FlakyLayer(failures=0), application)
        worker.next_message = lambda channel, taken: stop_when_asked(worker)
        await asyncio.wait_for(worker.serve("send-invite"), timeout=2)
        return worker

    worker = asyncio.run(scenario())
    assert len(calls) == 2
    assert calls[0] == {
        "type": "channel",
        "channel": "send-invite",
        "invitations.collaborators": Collaborators(
            announce=worker.announcements.add, stopping=worker.stopping.is_set, gate=worker.gate
        ),
    }


def wake_up(pk: int) -> dict:
    return {"type": "invitation.send", "id": pk}


def hand_out(layer, messages: list[dict], *, slots: int, **options) -> list[dict]:
    """Queue `messages`, then let each of `slots` free consumers of one worker take its first message."""

    async def scenario():
        worker = make_worker(layer, **options)
        for message in messages:
            await layer.send("send-invite", message)
        return [await worker.next_message("send-invite", deque()) for _ in range(slots)]

    return asyncio.run(scenario())


def test_waiting_wake_ups_go_to_a_consumer_together_up_to_a_batch(channel_layer):
    handed = hand_out(channel_layer, [wake_up(pk) for pk in range(1, 6)], slots=2, concurrency=1, batch=3)

    assert handed == [
        {"type": "invitation.send", "ids": [1, 2, 3]},
        {"type": "invitation.send", "ids": [4, 5]},
    ]


def test_a_short_queue_is_shared_among_the_consumers(channel_layer):
    handed = hand_out(channel_layer, [wake_up(pk) for pk in range(1, 7)], slots=3, concurrency=3, batch=20)

    # Each takes its share of what is still waiting: 6 / 3, then 4 / 3, then 2 / 3 (rounded up).
    assert [messages.wake_up_ids(message) for message in handed] == [[1, 2], [3, 4], [5]]


def test_another_message_taken_with_wake_ups_is_handed_on_after_them(channel_layer):
    async def scenario():
        worker = make_worker(channel_layer)
        for message in (wake_up(1), {"type": "other.thing"}, wake_up(2)):
            await channel_layer.send("send-invite", message)
        taken = deque()  # one consumer's: what it took and has not handled yet
        return [await worker.next_message("send-invite", taken) for _ in range(2)]

    assert asyncio.run(scenario()) == [{"type": "invitation.send", "ids": [1, 2]}, {"type": "other.thing"}]


def test_a_stopping_worker_hands_on_nothing_it_took(channel_layer):
    async def scenario():
        worker = make_worker(channel_layer)
        worker.stopping.set()
        with pytest.raises(WorkerStopping):
            await worker.next_message("send-invite", deque([wake_up(1)]))

    asyncio.run(scenario())


@pytest.fixture
def started(monkeypatch):
    """Run `runworker` without its event loop; return the worker it built."""
    built = []
    monkeypatch.setattr(InvitationWorker, "run", lambda self: built.append(self))
    monkeypatch.setitem(connections.settings["default"], "CONN_MAX_AGE", 0)
    return built


def test_runworker_builds_the_draining_worker_with_its_concurrency(started, settings):
    call_command("runworker", "send-invite", "--concurrency", "3")

    assert [(type(w), w.channels, w.concurrency) for w in started] == [(InvitationWorker, ["send-invite"], 3)]


def test_runworker_keeps_connections_open_unless_a_pool_does(started, settings):
    call_command("runworker", "send-invite")

    pooled = bool(connections.settings["default"].get("OPTIONS", {}).get("pool"))
    expected = 0 if pooled else app_settings.WORKER_CONN_MAX_AGE
    assert connections.settings["default"]["CONN_MAX_AGE"] == expected


def test_runworker_makes_room_in_the_pool_for_every_consumer(started, monkeypatch):
    monkeypatch.setitem(connections.settings["default"], "OPTIONS", {"pool": {"max_size": 4}})

    call_command("runworker", "send-invite", "--concurrency", "8")

    assert connections.settings["default"]["OPTIONS"]["pool"]["max_size"] == 9


def test_runworker_refuses_a_concurrency_below_one(started):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("runworker", "send-invite", "--concurrency", "0")


@pytest.mark.django_db(transaction=True)
def test_worker_tells_the_board_the_latest_state_of_what_it_sent(
    channel_layer, staff, mailoutbox, monkeypatch
):
    """Consumers announce through the worker's Announcements: "sending" and "sent" of one
    invitation reach the board as one row of one message, flushed at the latest on stop."""
    from myproject.asgi import application

    monkeypatch.setattr(live.Announcements, "interval", 3600)  # only the flush on stop
    invitation = Invitation.objects.create(email="ada@example.com", sender=staff)

    async def scenario():
        board = await channel_layer.new_channel()
        await channel_layer.group_add(live.STAFF_GROUP, board)
        await channel_layer.send("send-invite", {"type": "invitation.send", "id": invitation.pk})
        worker = InvitationWorker(
            application=application, channels=["send-invite"], channel_layer=channel_layer
        )
        running = asyncio.create_task(worker.handle())
        while not mailoutbox:
            await asyncio.sleep(0.01)
        worker.stop(signal.SIGTERM)
        await asyncio.wait_for(running, timeout=10)
        message = await asyncio.wait_for(channel_layer.receive(board), timeout=1)
        with pytest.raises(TimeoutError):  # and nothing more
            await asyncio.wait_for(channel_layer.receive(board), timeout=0.2)
        return message

    message = asyncio.run(scenario())

    assert [(row["id"], row["status"]) for row in message["invitations"]] == [(invitation.pk, "sent")]


def run_worker_until(channel_layer, condition) -> None:
    """Run a worker with the real application until condition() holds, then SIGTERM it and
    wait for it to stop."""
    from myproject.asgi import application

    async def scenario():
        worker = InvitationWorker(
            application=application, channels=["send-invite"], channel_layer=channel_layer
        )
        running = asyncio.create_task(worker.handle())
        while not condition():
            await asyncio.sleep(0.01)
        worker.stop(signal.SIGTERM)
        await asyncio.wait_for(running, timeout=5)

    asyncio.run(scenario())


@pytest.mark.django_db(transaction=True)
def test_stopping_lets_a_sweep_in_flight_finish(channel_layer, settings, monkeypatch):
    """A cancelled sweep left its thread waiting forever for the closed loop: the process hung on exit."""
    settings.INVITATIONS = {**settings.INVITATIONS, "SWEEP_INTERVAL": 0.01}
    sweeping, swept = threading.Event(), []

    def slow_redrive():
        sweeping.set()
        time.sleep(0.3)
        swept.append(queue.channel_room())  # back through the worker's event loop
        return 0

    monkeypatch.setattr(redrive, "invitations_redrive", slow_redrive)

    run_worker_until(channel_layer, sweeping.is_set)

    assert swept == [channel_layer.get_capacity("send-invite")]


@pytest.mark.django_db(transaction=True)
def test_a_sweep_that_finds_the_database_away_says_so_in_a_line_and_sweeps_again(
    channel_layer, settings, monkeypatch, caplog
):
    settings.INVITATIONS = {**settings.INVITATIONS, "SWEEP_INTERVAL": 0.01}
    rounds = []

    def database_away():
        rounds.append(1)
        raise OperationalError("connection refused")

    monkeypatch.setattr(redrive, "invitations_redrive", database_away)

    with caplog.at_level(logging.WARNING, logger="invitations.worker"):
        run_worker_until(channel_layer, lambda: len(rounds) >= 2)

    away = [r for r in caplog.records if "sweep: database unavailable (connection refused)" in r.getMessage()]
    assert len(away) >= 2
    assert all(record.exc_info is None for record in away)
