"""Re-driving, requeueing and revoking: redrive.py, delivery.py and services.py when the layer forgot."""

import asyncio
import threading
import time
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.http import Http404
from django.utils import timezone

from invitations import acceptance, background, delivery, liveness, queue, redrive, services
from invitations.models import Invitation

pytestmark = pytest.mark.django_db
Status = Invitation.Status


def ids(messages: list[dict]) -> set[int]:
    assert {m["type"] for m in messages} <= {"invitation.send"}
    return {m["id"] for m in messages}


def test_redrive_publishes_forgotten_invitations_but_not_fresh_ones(published, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "REPUBLISH_AFTER": 45}
    now = timezone.now()
    never = Invitation.objects.create(email="never@example.com", published_at=None, next_attempt_at=now)
    lost = Invitation.objects.create(email="lost@example.com", published_at=now - timedelta(minutes=5))
    Invitation.objects.create(email="fresh@example.com", published_at=now - timedelta(seconds=5))
    Invitation.objects.create(email="later@example.com", next_attempt_at=now + timedelta(minutes=5))

    assert redrive.invitations_redrive(now=now + timedelta(seconds=1)) == 2

    assert ids(published()) == {never.pk, lost.pk}
    assert Invitation.objects.get(pk=never.pk).published_at == now + timedelta(seconds=1)


def test_redrive_fills_only_the_room_left_in_the_channel_never_published_first(settings):
    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer", "CONFIG": {"capacity": 3}}
    }
    now = timezone.now()
    long_ago = now - timedelta(minutes=5)
    queued = Invitation.objects.create(email="queued@example.com", published_at=long_ago)
    never = [Invitation.objects.create(email=f"never{n}@example.com", published_at=None) for n in range(2)]
    Invitation.objects.create(email="also-old@example.com", published_at=long_ago)
    layer = get_channel_layer()
    async_to_sync(layer.send)("send-invite", {"type": "invitation.send", "id": queued.pk})

    assert redrive.invitations_redrive() == 2

    messages = [async_to_sync(layer.receive)("send-invite") for _ in range(3)]
    assert ids(messages) == {queued.pk, *(row.pk for row in never)}
    assert "send-invite" not in layer.channels, "the channel was full: nothing more was published"


def test_redrive_with_nothing_forgotten_publishes_nothing(published):
    Invitation.objects.create(email="fresh@example.com", published_at=timezone.now())

    assert redrive.invitations_redrive() == 0
    assert published() == []


def test_redrive_releases_claims_of_dead_workers_and_publishes_them(published, settings, monkeypatch):
    settings.INVITATIONS = {**settings.INVITATIONS, "CLAIM_TIMEOUT": 60}
    monkeypatch.setattr(liveness, "silent_claimants", lambda claimants: set())  # Redis cannot tell
    now = timezone.now()
    an_hour_ago = now - timedelta(hours=1)
    claim = {"status": Status.SENDING, "next_attempt_at": an_hour_ago, "published_at": an_hour_ago}
    dead = Invitation.objects.create(
        email="dead@example.com", claimed_at=now - timedelta(seconds=61), **claim
    )
    busy = Invitation.objects.create(
        email="busy@example.com", claimed_at=now - timedelta(seconds=10), **claim
    )

    assert redrive.invitations_redrive(now=now) == 1

    assert ids(published()) == {dead.pk}
    released = Invitation.objects.get(pk=dead.pk)
    assert (released.status, released.claimed_at, released.last_error) == (
        Status.PENDING,
        None,
        "claim expired",
    )
    assert Invitation.objects.get(pk=busy.pk).status == Status.SENDING


def test_redrive_releases_at_once_the_claims_of_a_worker_whose_heartbeat_is_gone(published, monkeypatch):
    now = timezone.now()
    claim = {"status": Status.SENDING, "next_attempt_at": now, "claimed_at": now - timedelta(seconds=6)}
    dead = Invitation.objects.create(email="dead@example.com", claimed_by="host:111:c0ffee01", **claim)
    alive = Invitation.objects.create(email="alive@example.com", claimed_by="host:222:c0ffee02", **claim)
    asked = []

    def silent(claimants):
        asked.append(set(claimants))
        return {"host:111:c0ffee01"}

    monkeypatch.setattr(liveness, "silent_claimants", silent)

    assert redrive.invitations_redrive(now=now) == 1

    assert asked == [{"host:111:c0ffee01", "host:222:c0ffee02"}]
    assert ids(published()) == {dead.pk}
    assert Invitation.objects.get(pk=dead.pk).last_error == "its worker stopped"
    assert Invitation.objects.get(pk=alive.pk).status == Status.SENDING


def test_released_claim_is_delivered_again(published, deliver, mailoutbox, settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "CLAIM_TIMEOUT": 60}
    stale = timezone.now() - timedelta(minutes=2)
    invitation = Invitation.objects.create(
        email="ada@example.com", status=Status.SENDING, claimed_at=stale, next_attempt_at=stale
    )
    redrive.invitations_redrive()

    assert deliver(invitation) == delivery.DeliveryOutcome.SENT
    assert [m.to for m in mailoutbox] == [["ada@example.com"]]


def test_requeue_resets_sent_invitations_and_publishes_after_commit(
    sent_invitation, published, django_capture_on_commit_callbacks
):
    invitation, key = sent_invitation
    failed = Invitation.objects.create(email="bob@example.com", status=Status.FAILED, attempts=5)

    with django_capture_on_commit_callbacks(execute=True):
        queued = services.invitations_requeue(ids=[invitation.pk, failed.pk], statuses=[Status.SENT])
        assert published() == []

    assert queued == 1
    assert published() == [{"type": "invitation.send", "id": invitation.pk, "ahead": True}]  # in the lane
    requeued = Invitation.objects.get(pk=invitation.pk)
    assert (requeued.status, requeued.attempts) == (Status.PENDING, 0)
    assert requeued.key_nonce != invitation.key_nonce  # a new link
    assert Invitation.objects.get(pk=failed.pk).status == Status.FAILED
    with pytest.raises(Http404):
        acceptance.invitation_for_key(key=key)  # the old link no longer works


def test_requeue_of_failed_invitations_clears_the_error(published, django_capture_on_commit_callbacks):
    failed = Invitation.objects.create(
        email="bob@example.com", status=Status.FAILED, attempts=5, last_error="x"
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert services.invitations_requeue(ids=[failed.pk], statuses=[Status.FAILED]) == 1

    assert ids(published()) == {failed.pk}
    retried = Invitation.objects.get(pk=failed.pk)
    assert (retried.status, retried.attempts, retried.last_error) == (Status.PENDING, 0, "")


def test_requeue_leaves_an_address_that_was_invited_again_alone(
    published, django_capture_on_commit_callbacks
):
    failed = Invitation.objects.create(email="bob@example.com", status=Status.FAILED)
    Invitation.objects.create(email="BOB@example.com")

    with django_capture_on_commit_callbacks(execute=True):
        assert services.invitations_requeue(ids=[failed.pk], statuses=[Status.FAILED]) == 0

    assert published() == []
    assert Invitation.objects.get(pk=failed.pk).status == Status.FAILED


def test_revoke_closes_invitations_that_were_not_accepted(sent_invitation):
    invitation, key = sent_invitation
    pending = Invitation.objects.create(email="p@example.com")
    failed = Invitation.objects.create(email="f@example.com", status=Status.FAILED)
    accepted = Invitation.objects.create(email="a@example.com", status=Status.ACCEPTED)

    assert services.invitations_revoke(ids=[invitation.pk, pending.pk, failed.pk, accepted.pk]) == 3

    statuses = dict(Invitation.objects.values_list("pk", "status"))
    assert statuses == {
        invitation.pk: Status.REVOKED,
        pending.pk: Status.REVOKED,
        failed.pk: Status.REVOKED,
        accepted.pk: Status.ACCEPTED,
    }
    assert acceptance.acceptance_refusal(acceptance.invitation_for_key(key=key)) == "revoked"


# --- Publishing from a web process without waiting ------------------------------------------


@pytest.fixture
def serving_loop(monkeypatch):
    """An event loop in a thread of its own that has served an ASGI connection, as daphne's has."""
    monkeypatch.setattr(background, "web", background.EventLoopWork())
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def app(scope, receive, send):
        pass

    asyncio.run_coroutine_threadsafe(
        background.web.remembering(app)({"type": "http"}, None, None), loop
    ).result(timeout=5)
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


def eventually(condition, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_publish_soon_outside_a_web_process_publishes_at_once(published):
    queue.invitations_publish_soon(invitation_ids=[42])

    assert ids(published()) == {42}


def test_publish_soon_in_a_web_process_returns_before_the_wake_up_goes_out(serving_loop, monkeypatch):
    gate, sent = threading.Event(), []

    async def announce_and_send(payloads, invitation_ids, ahead):
        await asyncio.get_running_loop().run_in_executor(None, gate.wait, 5)
        sent.append((invitation_ids, asyncio.get_running_loop()))
        return len(invitation_ids)

    monkeypatch.setattr(queue, "_announce_and_send", announce_and_send)

    queue.invitations_publish_soon(invitation_ids=[42])
    assert sent == []  # the caller did not wait
    gate.set()

    eventually(lambda: sent)
    assert sent == [([42], serving_loop)]


@pytest.mark.django_db(transaction=True)
def test_publish_soon_that_cannot_publish_leaves_the_row_to_the_next_sweep(
    serving_loop, monkeypatch, published
):
    invitation = Invitation.objects.create(email="ada@example.com", published_at=timezone.now())

    async def redis_down(payloads, invitation_ids, ahead):
        return 0

    working = queue._announce_and_send
    monkeypatch.setattr(queue, "_announce_and_send", redis_down)

    queue.invitations_publish_soon(invitation_ids=[invitation.pk])

    eventually(lambda: Invitation.objects.get(pk=invitation.pk).published_at is None)
    monkeypatch.setattr(queue, "_announce_and_send", working)  # Redis is back
    assert redrive.invitations_redrive() == 1
    assert ids(published()) == {invitation.pk}


def test_publish_soon_logs_what_breaks_in_the_background(serving_loop, monkeypatch, caplog):
    async def broken(payloads, invitation_ids, ahead):
        raise RuntimeError("boom")

    monkeypatch.setattr(queue, "_announce_and_send", broken)

    queue.invitations_publish_soon(invitation_ids=[42])

    eventually(lambda: "publishing invitations [42] failed" in caplog.text)
    eventually(lambda: not background.web.in_flight)  # its done-callback runs on the loop's next turn


def test_a_stopping_web_process_waits_for_the_wake_ups_still_going_out(serving_loop, monkeypatch):
    gate, sent = threading.Event(), []

    async def slow_send(payloads, invitation_ids, ahead):
        await asyncio.get_running_loop().run_in_executor(None, gate.wait, 5)
        sent.append(invitation_ids)
        return len(invitation_ids)

    monkeypatch.setattr(queue, "_announce_and_send", slow_send)
    queue.invitations_publish_soon(invitation_ids=[42])
    eventually(lambda: background.web.in_flight)

    waiting = asyncio.run_coroutine_threadsafe(background.web.finished(5), serving_loop)
    time.sleep(0.05)
    assert not waiting.done(), "it waits while the wake-up is on its way"
    gate.set()
    waiting.result(timeout=5)
    assert sent == [[42]]


def test_a_stopping_web_process_waits_no_longer_than_it_is_given(serving_loop, monkeypatch):
    async def stuck(payloads, invitation_ids, ahead):
        await asyncio.sleep(60)

    monkeypatch.setattr(queue, "_announce_and_send", stuck)
    queue.invitations_publish_soon(invitation_ids=[42])
    eventually(lambda: background.web.in_flight)

    started = time.monotonic()
    asyncio.run_coroutine_threadsafe(background.web.finished(0.1), serving_loop).result(timeout=5)
    assert time.monotonic() - started < 1
    for task in list(background.web.in_flight):
        serving_loop.call_soon_threadsafe(task.cancel)
