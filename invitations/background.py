"""Work a web process does on its server's event loop once the response no longer waits for
it (publishing a request's wake-ups), and waiting for that work when the process stops."""

import asyncio
from collections.abc import Callable, Coroutine


class EventLoopWork:
    """The event loop of the ASGI application, once it has served a connection, and the tasks
    started on it that are not done yet."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None
        self.in_flight: set[asyncio.Task] = set()  # held until done: a loop keeps weak references

    def remembering(self, application):
        """ASGI middleware that remembers the event loop running `application`."""

        async def remembering(scope, receive, send):
            self.loop = asyncio.get_running_loop()
            return await application(scope, receive, send)

        return remembering

    def start(self, work: Callable[..., Coroutine], *args) -> bool:
        """Run `work(*args)` on the remembered loop, from any thread, without waiting for it;
        False when no running loop is known (not a web process: the caller does it itself)."""
        loop = self.loop
        if loop is None or loop.is_closed() or not loop.is_running():
            return False
        loop.call_soon_threadsafe(self._create_task, work, args)
        return True

    def _create_task(self, work: Callable[..., Coroutine], args: tuple) -> None:
        task = asyncio.get_running_loop().create_task(work(*args))
        self.in_flight.add(task)
        task.add_done_callback(self.in_flight.discard)

    async def finished(self, timeout: float) -> None:
        """Wait up to `timeout` s for the work still running (a web process that is stopping)."""
        if self.in_flight:
            await asyncio.wait(set(self.in_flight), timeout=timeout)


web = EventLoopWork()
