"""The draining worker, with the in-memory channel layer and a recording application."""

import asyncio
import signal
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.db import connections

from invitations import delivery, live, queue
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


def make_worker(layer, application=None) -> InvitationWorker:
    worker = InvitationWorker(application=application, channels=["send-invite"], channel_layer=layer)
    worker.stopping = asyncio.Event()
    return worker


def test_receive_outlives_a_channel_layer_outage(monkeypatch):
    async def scenario():
        worker = make_worker(FlakyLayer(failures=2))
        monkeypatch.setattr(worker, "pause", lambda seconds: asyncio.sleep(0))
        return await worker.next_message("send-invite")

    assert asyncio.run(scenario()) == {"type": "invitation.send", "id": 1}


def test_waiting_consumer_is_released_when_the_worker_stops(channel_layer):
    async def scenario():
        worker = make_worker(channel_layer)
        waiting = asyncio.ensure_future(worker.next_message("send-invite"))
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
        worker.next_message = lambda channel: stop_when_asked(worker)
        await asyncio.wait_for(worker.serve("send-invite"), timeout=2)
        return worker

    worker = asyncio.run(scenario())
    assert len(calls) == 2
    assert calls[0] == {"type": "channel", "channel": "send-invite", "announce": worker.announcements.add}


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
    expected = 0 if pooled else settings.WORKER_CONN_MAX_AGE
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


@pytest.mark.django_db(transaction=True)
def test_stopping_lets_a_sweep_in_flight_finish(channel_layer, settings, monkeypatch):
    """A cancelled sweep left its thread waiting forever for the closed loop: the process hung on exit."""
    from myproject.asgi import application

    settings.INVITATION_SWEEP_INTERVAL = 0.01
    sweeping, swept = threading.Event(), []

    def slow_redrive():
        sweeping.set()
        time.sleep(0.3)
        swept.append(queue.channel_room())  # back through the worker's event loop
        return 0

    monkeypatch.setattr(delivery, "invitations_redrive", slow_redrive)

    async def scenario():
        worker = InvitationWorker(
            application=application, channels=["send-invite"], channel_layer=channel_layer
        )
        running = asyncio.create_task(worker.handle())
        while not sweeping.is_set():
            await asyncio.sleep(0.01)
        worker.stop(signal.SIGTERM)
        await asyncio.wait_for(running, timeout=5)

    asyncio.run(scenario())

    assert swept == [channel_layer.get_capacity("send-invite")]
