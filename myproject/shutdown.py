"""The web process finishes its requests in flight when it is told to stop.

On SIGTERM daphne cancels every application instance at once, so a staff POST in flight
would get an empty reply although its invitation may commit. This middleware runs each HTTP
request in a task of its own that the cancel does not reach, and adds a "before shutdown"
trigger to daphne's Twisted reactor: Twisted drops the connections only once every such
trigger is done, so the requests in flight, and any that arrive meanwhile, get their
responses, for up to `WEB_SHUTDOWN_TIMEOUT` seconds. WebSockets are left to daphne: the live
board reconnects to the next web process.
"""

import asyncio
import logging
import sys

logger = logging.getLogger(__name__)


def finish_requests_on_shutdown(application, *, timeout: float, then=None):
    """Wrap an ASGI application. `then(seconds_left)`, a coroutine function, runs once the
    requests are done: the wake-ups they publish from the event loop go out before it stops."""
    in_flight: set[asyncio.Future] = set()

    async def finishing(scope, receive, send):
        if scope["type"] != "http":
            return await application(scope, receive, send)
        request = asyncio.ensure_future(application(scope, receive, send))
        in_flight.add(request)
        request.add_done_callback(in_flight.discard)
        await asyncio.shield(request)

    async def drain() -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while in_flight and (left := deadline - loop.time()) > 0:
            await asyncio.wait(set(in_flight), timeout=left)
        if in_flight:
            logger.warning("shutting down with %d request(s) unfinished after %s s", len(in_flight), timeout)
        if then is not None:
            await then(max(deadline - loop.time(), 0))

    # daphne installs its reactor before it imports the application; no reactor, no daphne.
    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import defer, reactor

        reactor.addSystemEventTrigger(
            "before", "shutdown", lambda: defer.Deferred.fromFuture(asyncio.ensure_future(drain()))
        )
    finishing.drain = drain  # for tests
    return finishing
