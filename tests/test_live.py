"""Live status: the staff WebSocket and the state changes the worker announces."""

import pytest
from asgiref.sync import async_to_sync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import AnonymousUser

from invitations import live
from invitations.consumers import InvitationStatusConsumer
from invitations.models import Invitation

pytestmark = pytest.mark.django_db(transaction=True)


def connect(user):
    communicator = WebsocketCommunicator(InvitationStatusConsumer.as_asgi(), "/ws/invites/")
    communicator.scope["user"] = user
    return communicator


@async_to_sync
async def staff_receives(user, announce):
    communicator = connect(user)
    connected, _ = await communicator.connect()
    assert connected
    await announce()
    message = await communicator.receive_json_from(timeout=2)
    assert await communicator.receive_nothing(timeout=0.2), "expected one message"
    await communicator.disconnect()
    return message


@async_to_sync
async def is_accepted(communicator) -> bool:
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


def test_staff_socket_receives_state_changes(staff):
    invitation = Invitation.objects.create(email="ada@example.com", sender=staff)

    message = staff_receives(
        staff, database_sync_to_async(lambda: live.invitation_announce(invitation=invitation))
    )

    assert message == [
        {
            "id": invitation.pk,
            "email": "ada@example.com",
            "status": "pending",
            "state": "pending",
            "status_label": "pending",
            "reason": "",
            "sent": None,
            "attempts": 0,
            "sender": "grace",
            "sender_id": staff.pk,
        }
    ]


def test_announcements_go_out_together_with_the_latest_state_of_each(staff):
    announcements = live.Announcements()
    first = Invitation.objects.create(email="ada@example.com", sender=staff)
    second = Invitation.objects.create(email="bob@example.com", sender=staff)
    announcements.add(invitation=first)
    announcements.add(invitation=second)
    first.status = Invitation.Status.SENT
    announcements.add(invitation=first)

    message = staff_receives(staff, announcements.flush)

    assert [(row["email"], row["status"]) for row in message] == [
        ("ada@example.com", "sent"),
        ("bob@example.com", "pending"),
    ]


def test_flushing_nothing_sends_nothing(staff):
    announcements = live.Announcements()
    announcements.add(invitation=Invitation.objects.create(email="ada@example.com", sender=staff))

    async def flush_twice():
        await announcements.flush()
        await announcements.flush()

    [row] = staff_receives(staff, flush_twice)

    assert row["email"] == "ada@example.com"


def test_anonymous_socket_is_refused():
    assert not is_accepted(connect(AnonymousUser()))


def test_socket_of_a_user_who_may_not_invite_is_refused(django_user_model):
    user = django_user_model.objects.create_user("mallory", password="x-long-password")

    assert not is_accepted(connect(user))


def test_socket_from_a_foreign_origin_is_refused():
    from myproject.asgi import application  # imported with the tests' static files storage

    communicator = WebsocketCommunicator(
        application, "/ws/invites/", headers=[(b"origin", b"https://evil.test")]
    )

    assert not is_accepted(communicator)


def test_announcing_without_a_working_channel_layer_does_not_raise(settings, staff):
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": ["redis://127.0.0.1:1/0"]},
        }
    }

    live.invitation_announce(invitation=Invitation.objects.create(email="ada@example.com", sender=staff))
