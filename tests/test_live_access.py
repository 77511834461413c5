"""The staff board's WebSocket lasts only as long as its user's session and permission."""

import pytest
from asgiref.sync import async_to_sync
from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission

from invitations import live
from invitations.consumers import InvitationStatusConsumer
from invitations.models import Invitation

pytestmark = pytest.mark.django_db(transaction=True)


def board_socket(client) -> WebsocketCommunicator:
    """A socket opened with the browser's session cookie, as the board's page opens it."""
    cookie = f"{client.cookies['sessionid'].key}={client.cookies['sessionid'].value}"
    application = AuthMiddlewareStack(InvitationStatusConsumer.as_asgi())
    return WebsocketCommunicator(application, "/ws/invites/", headers=[(b"cookie", cookie.encode())])


@async_to_sync
async def pushes_after(communicator, change) -> list:
    """What the socket gets for one announcement made after `change`, and whether it stays open."""
    connected, _ = await communicator.connect()
    assert connected
    invitation = await database_sync_to_async(Invitation.objects.create)(email="ada@example.com")
    await database_sync_to_async(change)()
    await database_sync_to_async(live.invitation_announce)(invitation=invitation)
    outputs = []
    while not await communicator.receive_nothing(timeout=0.3):
        outputs.append(await communicator.receive_output())
    await communicator.disconnect()
    return [output["type"] if output["type"] == "websocket.close" else output["text"] for output in outputs]


def test_a_socket_of_a_signed_in_staff_member_gets_the_pushes(staff_client):
    [push] = pushes_after(board_socket(staff_client), lambda: None)

    assert "ada@example.com" in push


def test_logging_out_closes_the_socket_before_the_next_push(staff_client):
    assert pushes_after(board_socket(staff_client), staff_client.logout) == ["websocket.close"]


def test_losing_the_permission_closes_the_socket(staff_client, staff):
    def revoke():
        staff.user_permissions.remove(Permission.objects.get(codename="add_invitation"))

    assert pushes_after(board_socket(staff_client), revoke) == ["websocket.close"]


def test_deactivating_the_user_closes_the_socket(staff_client, staff):
    def deactivate():
        staff.is_active = False
        staff.save()

    assert pushes_after(board_socket(staff_client), deactivate) == ["websocket.close"]


def test_a_password_change_elsewhere_closes_the_socket(staff_client, staff):
    def change_password():
        staff.set_password("another-long-password-42")
        staff.save()

    assert pushes_after(board_socket(staff_client), change_password) == ["websocket.close"]


def site_socket(client, origin: str, host: str = "127.0.0.1:8000", *extra) -> WebsocketCommunicator:
    """A socket to the whole site (myproject.asgi), opened with the staff member's cookie from `origin`."""
    from myproject.asgi import application  # imported with the tests' static files storage

    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", origin.encode()), (b"host", host.encode()), (b"cookie", cookie), *extra]
    return WebsocketCommunicator(application, "/ws/invites/", headers=headers)


@async_to_sync
async def is_accepted(communicator) -> bool:
    connected, _ = await communicator.connect()
    await communicator.disconnect()
    return connected


def test_the_board_socket_opens_from_the_sites_own_origin(staff_client):
    assert is_accepted(site_socket(staff_client, "http://127.0.0.1:8000"))


@pytest.mark.parametrize(
    "origin",
    ["http://127.0.0.1:9999", "https://127.0.0.1:8000", "http://localhost:8000", "null"],
    ids=["other-port", "other-scheme", "other-host", "opaque"],
)
def test_the_board_socket_is_refused_from_another_origin_of_an_allowed_host(staff_client, origin):
    assert not is_accepted(site_socket(staff_client, origin))


def test_behind_a_tls_proxy_the_origin_is_the_https_one(staff_client):
    proto = (b"x-forwarded-proto", b"https")

    assert is_accepted(site_socket(staff_client, "https://localhost", "localhost", proto))
    assert not is_accepted(site_socket(staff_client, "http://localhost", "localhost", proto))


def test_an_origin_in_csrf_trusted_origins_may_open_the_board_too(settings):
    settings.CSRF_TRUSTED_ORIGINS = ["https://admin.example.com"]

    def allowed(origin: bytes) -> bool:
        headers = [(b"host", b"app.example.com"), (b"origin", origin)]
        return live.board_origin_allowed(headers=headers, scheme="wss")

    assert allowed(b"https://admin.example.com")
    assert not allowed(b"http://admin.example.com")
