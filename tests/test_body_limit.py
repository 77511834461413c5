"""Request bodies over INVITATIONS["MAX_REQUEST_BYTES"] are refused before they are read
(invitations/body_limit.py, inside routing.serving, the wrapper of every host's asgi.py)."""

import asyncio

import pytest
from django.core.asgi import get_asgi_application

from invitations import routing
from invitations.conf import app_settings
from invitations.forms import MAX_CSV_BYTES

MiB = 1024 * 1024
pytestmark = pytest.mark.django_db


class Client:
    """The server's side of one HTTP request: hands out the body in chunks, keeps what is sent."""

    def __init__(self, chunks: list[bytes], content_length: int | None):
        self.chunks = list(chunks)
        self.taken = 0  # body bytes the application pulled
        self.sent: list[dict] = []
        headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]
        if content_length is not None:
            headers.append((b"content-length", str(content_length).encode()))
        self.scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": "/anymail/postmark/tracking/",
            "raw_path": b"/anymail/postmark/tracking/",
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
        }

    async def receive(self) -> dict:
        if not self.chunks:  # the client waits for its answer
            await asyncio.Future()
        chunk = self.chunks.pop(0)
        self.taken += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": bool(self.chunks)}

    async def send(self, message: dict) -> None:
        self.sent.append(message)

    def run(self, application) -> None:
        asyncio.run(asyncio.wait_for(application(self.scope, self.receive, self.send), timeout=10))

    @property
    def status(self) -> int:
        return next(m["status"] for m in self.sent if m["type"] == "http.response.start")


def the_web_process():
    return routing.serving(get_asgi_application())


def test_a_body_declared_larger_than_the_limit_is_refused_unread(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "MAX_REQUEST_BYTES": 4 * MiB}
    client = Client([b"x" * MiB] * 200, content_length=200 * MiB)

    client.run(the_web_process())

    assert client.status == 413
    assert client.taken == 0
    assert b"too large" in b"".join(m.get("body", b"") for m in client.sent)


def test_a_streamed_body_is_read_no_further_than_the_limit(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "MAX_REQUEST_BYTES": 4 * MiB}
    client = Client([b"x" * MiB] * 200, content_length=None)  # chunked: no Content-Length

    client.run(the_web_process())

    assert client.status == 413
    assert client.taken <= 5 * MiB
    assert [m["status"] for m in client.sent if m["type"] == "http.response.start"] == [413]


def test_a_body_within_the_limit_reaches_the_application(settings):
    settings.INVITATIONS = {**settings.INVITATIONS, "MAX_REQUEST_BYTES": 4 * MiB}
    body = b'{"RecordType": "Delivery"}'
    client = Client([body], content_length=len(body))

    client.run(the_web_process())

    assert client.status == 400  # the webhook's own answer to a request without its secret
    assert client.taken == len(body)


def test_the_default_limit_fits_the_largest_csv_upload():
    assert MAX_CSV_BYTES + MiB <= app_settings.MAX_REQUEST_BYTES
