import logging

import pytest
from asgiref.sync import async_to_sync
from channels.exceptions import StopConsumer
from channels.testing import ApplicationCommunicator
from django.db import OperationalError

from invitations import delivery
from invitations.consumers import InvitationSendConsumer
from invitations.models import Invitation

pytestmark = pytest.mark.django_db(transaction=True)
SCOPE = {"type": "channel", "channel": "send-invite"}


class StoppableConsumer(InvitationSendConsumer):
    """The real consumer, plus a message that ends it once every message before it was handled."""

    def test_stop(self, message):
        raise StopConsumer


@async_to_sync
async def consume(*messages: dict) -> None:
    """Feed the messages to one consumer instance, in order, and wait until it has handled them."""
    communicator = ApplicationCommunicator(StoppableConsumer.as_asgi(), SCOPE)
    for message in [*messages, {"type": "test.stop"}]:
        await communicator.send_input(message)
    await communicator.wait(timeout=10)  # re-raises anything the consumer raised


def send(invitation: Invitation) -> dict:
    return {"type": "invitation.send", "id": invitation.pk}


def test_message_delivers_the_mail_and_stamps_the_row(mailoutbox):
    invitation = Invitation.objects.create(email="ada@example.com")

    consume(send(invitation))

    assert [m.to for m in mailoutbox] == [["ada@example.com"]]
    invitation.refresh_from_db()
    assert invitation.status == Invitation.Status.SENT
    assert invitation.sent is not None


def test_one_consumer_delivers_message_after_message(mailoutbox):
    ada = Invitation.objects.create(email="ada@example.com")
    bob = Invitation.objects.create(email="bob@example.com")

    consume(send(ada), send(bob))

    assert [m.to for m in mailoutbox] == [["ada@example.com"], ["bob@example.com"]]


def test_merged_wake_ups_deliver_every_invitation_they_name_once(mailoutbox):
    ada, bob = (Invitation.objects.create(email=f"{name}@example.com") for name in ("ada", "bob"))

    consume({"type": "invitation.send", "ids": [bob.pk, ada.pk, bob.pk]})

    assert [m.to for m in mailoutbox] == [["bob@example.com"], ["ada@example.com"]]
    assert set(Invitation.objects.values_list("status", "attempts")) == {(Invitation.Status.SENT, 1)}


@pytest.mark.parametrize(
    "bad_id",
    [
        lambda pk: {},
        lambda pk: {"id": str(pk)},
        lambda pk: {"id": float(pk)},
        lambda pk: {"id": None},
        lambda pk: {"id": True},
        lambda pk: {"ids": []},
        lambda pk: {"ids": pk},
        lambda pk: {"ids": [pk, str(pk)]},
    ],
    ids=["missing", "string", "float", "null", "bool", "empty-ids", "ids-not-a-list", "ids-not-all-ints"],
)
def test_message_without_an_integer_id_is_ignored(mailoutbox, bad_id):
    ignored = Invitation.objects.create(email="ignored@example.com")
    handled = Invitation.objects.create(email="handled@example.com")

    consume({"type": "invitation.send", **bad_id(ignored.pk)}, send(handled))

    assert [m.to for m in mailoutbox] == [["handled@example.com"]]
    ignored.refresh_from_db()
    assert (ignored.status, ignored.attempts) == (Invitation.Status.PENDING, 0)


def test_second_message_for_the_same_invitation_sends_nothing(mailoutbox):
    invitation = Invitation.objects.create(email="ada@example.com")

    consume(send(invitation), send(invitation))

    assert len(mailoutbox) == 1
    invitation.refresh_from_db()
    assert invitation.attempts == 1


def test_message_for_a_deleted_invitation_sends_nothing(mailoutbox):
    invitation = Invitation.objects.create(email="ada@example.com")
    message = send(invitation)
    invitation.delete()

    consume(message)

    assert mailoutbox == []


def test_crash_while_delivering_one_invitation_does_not_stop_the_consumer(mailoutbox, monkeypatch):
    broken = Invitation.objects.create(email="broken@example.com")
    fine = Invitation.objects.create(email="fine@example.com")
    deliver = delivery.invitations_deliver

    def crash_for_broken(*, invitation_ids, **kwargs):
        if broken.pk in invitation_ids:
            raise ConnectionError("database went away")
        return deliver(invitation_ids=invitation_ids, **kwargs)

    monkeypatch.setattr(delivery, "invitations_deliver", crash_for_broken)

    consume(send(broken), send(fine))

    assert [m.to for m in mailoutbox] == [["fine@example.com"]]


def test_a_database_outage_is_one_warning_line_per_wake_up_not_a_traceback(mailoutbox, monkeypatch, caplog):
    invitation = Invitation.objects.create(email="ada@example.com")

    def database_away(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(delivery, "invitations_deliver", database_away)

    with caplog.at_level(logging.WARNING, logger="invitations.consumers"):
        consume(send(invitation))

    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.exc_info is None
    assert f"invitations [{invitation.pk}]: database unavailable (connection refused)" in record.getMessage()


def test_a_wake_up_of_the_priority_lane_asks_for_its_send_turn_ahead(monkeypatch, channel_layer):
    """invitation_create publishes in the lane; the consumer hands "ahead" on to the send gate."""
    from invitations import services

    asked = []
    monkeypatch.setattr(delivery, "invitations_deliver", lambda **run: asked.append(run["ahead"]))
    single = services.invitation_create(email="ada@example.com", sender=None)
    Invitation.objects.create(email="bulk@example.com")

    lane = async_to_sync(channel_layer.receive)("send-invite")
    consume(lane, {"type": "invitation.send", "id": single.pk + 1})

    assert lane == {"type": "invitation.send", "id": single.pk, "ahead": True}
    assert asked == [True, False]
