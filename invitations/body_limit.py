"""Request bodies larger than INVITATIONS["MAX_REQUEST_BYTES"] are refused before they are read.

Django reads a whole body before any view, login or webhook secret looks at it, so a huge POST
costs memory (or disk) from anyone. This ASGI middleware answers 413 when the Content-Length
says too much, without reading a byte, and stops reading a body sent without one (chunked) as
soon as it passes the limit. It helps under a server that streams bodies to the application
(uvicorn, the Procfile's web process); daphne reads a whole body before the application starts.
"""

import logging

from invitations.conf import app_settings

logger = logging.getLogger(__name__)

REFUSAL = b"Request body too large.\n"


def refuse_large_bodies(application):
    """Wrap an ASGI application: HTTP requests over the limit get a 413; the rest pass as they came."""

    async def limiting(scope, receive, send):
        if scope["type"] != "http":
            return await application(scope, receive, send)
        limit = app_settings.MAX_REQUEST_BYTES
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            _log_refusal(scope, f"Content-Length {declared}", limit)
            return await _refuse(send)
        body = _LimitedBody(scope, receive, send, limit)
        return await application(scope, body.receive, body.send)

    return limiting


class _LimitedBody:
    """One request's receive and send: once the body read passes the limit, the client gets a
    413 and the application hears that the client went away (Django's handler then stops
    reading and answers nothing); whatever it still sends is dropped."""

    def __init__(self, scope, receive, send, limit: int):
        self.scope, self._receive, self._send, self.limit = scope, receive, send, limit
        self.received = 0

    @property
    def refused(self) -> bool:
        return self.received > self.limit

    async def receive(self) -> dict:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.refused:
                _log_refusal(self.scope, "body", self.limit)
                await _refuse(self._send)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: dict) -> None:
        if not self.refused:
            await self._send(message)


async def _refuse(send) -> None:
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(REFUSAL)).encode()),
        (b"connection", b"close"),  # the rest of the body is never read
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": REFUSAL})


def _log_refusal(scope, what: str, limit: int) -> None:
    logger.warning("refused %s %s: %s over %d bytes", scope["method"], scope["path"], what, limit)


def _content_length(scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:  # the server refuses such a request before it gets here
                return None
    return None
