"""SENTRY_DSN: a 500 and a crashed consumer reach Sentry (a fake one on loopback), with the
invitation's id and never its address or key."""

import gzip
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sentry_sdk
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.core.asgi import get_asgi_application

from invitations import acceptance, delivery, health
from invitations.models import Invitation
from myproject import sentry
from tests.test_consumers import consume, send

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sentry_events():
    """A Sentry that receives envelopes on loopback, and the SDK set up as settings.py does;
    returns a function that flushes the SDK and gives the raw bodies and the events received."""
    bodies: list[bytes] = []

    class Envelopes(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            if self.path == "/api/1/envelope/":
                bodies.append(body)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Envelopes)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sentry.init(f"http://public@127.0.0.1:{server.server_port}/1")

    def received() -> tuple[bytes, list[dict]]:
        sentry_sdk.flush(timeout=10)  # returns once the queued envelopes were posted
        return b"\n".join(bodies), [event for body in bodies for event in _events(body)]

    yield received
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # no DSN: nothing is sent from here on
    server.shutdown()
    server.server_close()


def _events(envelope: bytes) -> list[dict]:
    lines = envelope.split(b"\n")[1:]  # after the envelope's header: an item header, then its payload
    return [
        json.loads(lines[n + 1])
        for n in range(0, len(lines) - 1, 2)
        if json.loads(lines[n])["type"] == "event"
    ]


@async_to_sync
async def asgi_get(path: str, query: bytes = b"", cookie: str = "") -> int:
    """A GET through Django's ASGI handler, as the web process serves it; the status code."""
    communicator = HttpCommunicator(
        get_asgi_application(), "GET", path, headers=[(b"host", b"localhost"), (b"cookie", cookie.encode())]
    )
    communicator.scope["query_string"] = query
    return (await communicator.get_response(timeout=10))["status"]


def test_a_500_reaches_sentry_without_the_address(client, staff, sentry_events, monkeypatch):
    def broken():
        raise RuntimeError("the board broke while ada@example.com looked")

    monkeypatch.setattr(health, "provider_pause", broken)
    client.force_login(staff)

    status = asgi_get(
        "/invites/", b"email=ada%40example.com", f"sessionid={client.cookies['sessionid'].value}"
    )

    assert status == 500
    raw, [event] = sentry_events()
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == (
        "RuntimeError",
        "the board broke while [address] looked",
    )
    assert event["request"]["url"].endswith("/invites/")
    assert event["request"]["query_string"] == "email=[address]"
    assert b"ada@example.com" not in raw
    assert b"ada%40example.com" not in raw


def test_a_500_on_an_accept_link_reaches_sentry_without_the_key(sentry_events, monkeypatch):
    def broken(*, key):
        raise RuntimeError("lookup failed")

    monkeypatch.setattr(acceptance, "invitation_for_key", broken)

    assert asgi_get("/invites/accept/the-secret-key-0123456789/") == 500

    raw, [event] = sentry_events()
    assert event["request"]["url"].endswith("/invites/accept/[key]/")
    assert b"the-secret-key-0123456789" not in raw


def test_a_crashed_consumer_reaches_sentry_with_the_invitation_id(sentry_events, monkeypatch):
    invitation = Invitation.objects.create(email="ada@example.com")

    def crash(**kwargs):
        raise ConnectionError("the mail server hung up on ada@example.com")

    monkeypatch.setattr(delivery, "invitations_deliver", crash)

    consume(send(invitation))

    raw, [event] = sentry_events()
    assert event["tags"]["invitation_id"] == str(invitation.pk)
    assert "delivery crashed" in event["logentry"]["message"]
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == (
        "ConnectionError",
        "the mail server hung up on [address]",
    )
    assert b"ada@example.com" not in raw
