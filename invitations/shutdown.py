"""The web process finishes its requests in flight when it is told to stop.

Under uvicorn (the Procfile's web process) the server does it: on SIGTERM it stops accepting,
lets the requests in flight answer (up to --timeout-graceful-shutdown), then sends the ASGI
lifespan "shutdown" event, which `lifespan` answers once their wake-ups are published.

On SIGTERM daphne cancels every application instance at once, so a staff POST in flight
would get an empty reply although its invitation may commit. This middleware runs each HTTP
request in a task of its own that the cancel does not reach, and adds a "before shutdown"
trigger to daphne's Twisted reactor: Twisted drops the connections only once every such
trigger is done. So the requests in flight, and those that arrive while it waits for them,
get their responses, for up to INVITATIONS["SHUTDOWN_TIMEOUT"] seconds. WebSockets are left to
daphne: the live board reconnects to the next web process.
"""

import asyncio
import logging
import sys

from invitations.conf import app_settings

logger = logging.getLogger(__name__)
FLUSH_POLL = 0.01  # seconds between looks at Twisted's unwritten responses


def finish_requests_on_shutdown(application, *, timeout: float | None = None, then=None):
    """Wrap an ASGI application. `then(seconds)`, a coroutine function, runs once the requests
    are done (given at least a second): the wake-ups they publish go out before the loop stops.
    `timeout`: seconds in all; INVITATIONS["SHUTDOWN_TIMEOUT"] when None."""
    in_flight: set[asyncio.Future] = set()
    trigger_added = False

    async def finishing(scope, receive, send):
        nonlocal trigger_added
        if scope["type"] != "http":
            return await application(scope, receive, send)
        if not trigger_added:
            trigger_added = _before_daphne_stops(drain)
        request = asyncio.ensure_future(application(scope, receive, send))
        in_flight.add(request)
        request.add_done_callback(in_flight.discard)
        try:
            await asyncio.shield(request)
        except asyncio.CancelledError:
            request.add_done_callback(_log_failure)  # nobody awaits it any more
            raise

    async def drain() -> None:
        loop = asyncio.get_running_loop()
        allowed = app_settings.SHUTDOWN_TIMEOUT if timeout is None else timeout
        deadline = loop.time() + allowed
        while True:
            while in_flight and loop.time() < deadline:
                await asyncio.wait(set(in_flight), timeout=deadline - loop.time())
            if then is not None:
                await then(max(deadline - loop.time(), 1.0))
            if not in_flight or loop.time() >= deadline:  # else one came meanwhile: wait for it too
                break
        if in_flight:
            logger.warning("shutting down with %d request(s) unfinished after %s s", len(in_flight), allowed)
        await _responses_written(deadline)

    finishing.drain = drain  # for tests
    return finishing


def lifespan(application, *, then):
    """Wrap an ASGI application (which need not know the lifespan protocol): on the server's
    "shutdown" event, await `then(INVITATIONS["SHUTDOWN_TIMEOUT"])` before saying it is done."""

    async def living(scope, receive, send):
        if scope["type"] != "lifespan":
            return await application(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await then(app_settings.SHUTDOWN_TIMEOUT)
                await send({"type": "lifespan.shutdown.complete"})
                return

    return living


def _installed_reactor():
    """Twisted's reactor if one is installed (daphne installs one), else None. Looked up, not
    imported: importing twisted.internet.reactor would install one."""
    return sys.modules.get("twisted.internet.reactor")


def _before_daphne_stops(drain) -> bool:
    """Have daphne's reactor await `drain()` before it drops the connections; False when no
    Twisted reactor runs this event loop (not daphne)."""
    reactor = _installed_reactor()
    if reactor is None or not reactor.running:
        return False
    from twisted.internet import defer

    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: defer.Deferred.fromFuture(asyncio.ensure_future(drain()))
    )
    return True


async def _responses_written(deadline: float) -> None:
    """Wait until Twisted has handed every buffered response to the kernel: the connections
    are dropped next, with whatever they still hold."""
    reactor = _installed_reactor()
    loop = asyncio.get_running_loop()
    while reactor is not None and reactor.getWriters() and loop.time() < deadline:
        await asyncio.sleep(FLUSH_POLL)


def _log_failure(request: asyncio.Future) -> None:
    if not request.cancelled() and request.exception() is not None:
        logger.error("request failed while the web process was stopping", exc_info=request.exception())
