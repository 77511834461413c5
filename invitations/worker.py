"""A channel worker that drains instead of hoarding.

Channels' stock Worker pulls every queued message into memory, so a deploy, a crash or one
raising handler loses all of them. This one takes messages only when a consumer is free,
stops taking on SIGTERM or SIGINT and finishes the mail in hand, outlives Redis outages,
and sweeps the database for invitations the channel layer forgot.
"""

import asyncio
import contextlib
import logging
import random
import signal
from collections import deque
from collections.abc import Callable
from functools import partial

from asgiref.compatibility import guarantee_single_callable
from channels.db import database_sync_to_async
from channels.worker import Worker

from invitations import (
    acceptance,
    batches,
    delivery,
    health,
    live,
    liveness,
    messages,
    redrive,
    retention,
    throttle,
)
from invitations.conf import app_settings
from invitations.redis_url import async_redis

logger = logging.getLogger(__name__)


class WorkerStopping(Exception):
    """Raised to a consumer waiting for its next message once the worker is stopping."""


class InvitationWorker(Worker):
    # Heroku sends SIGKILL 30 s after SIGTERM.
    grace_period = 25.0

    def __init__(self, *args, concurrency: int = 1, batch: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        # Consumers working at once, each with its own thread and SMTP connection.
        self.concurrency = concurrency
        self.announcements = live.Announcements()
        self.gate = throttle.send_gate()
        # Most wake-ups one consumer takes at once. Under a send rate it sends one at a time
        # anyway, and a wake-up it holds would keep the priority lane's waiting behind it.
        self.batch = 1 if self.gate.limited else batch or app_settings.WORKER_BATCH

    async def handle(self) -> None:
        self.stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop, signum)
        slots = [
            asyncio.create_task(self.serve(channel))
            for channel in self.channels
            for _ in range(self.concurrency)
        ]
        chores = [
            asyncio.create_task(chore())
            for chore in (
                self.sweep_forever,
                self.beat_forever,
                self.announce_forever,
                self.purge_forever,
                self.retention_forever,
            )
        ]
        logger.info("worker ready on %s, concurrency %d", ", ".join(self.channels), self.concurrency)
        await self.stopping.wait()
        _, unfinished = await asyncio.wait(slots, timeout=self.grace_period)
        if unfinished:
            logger.warning(
                "%d message(s) unfinished at the grace period's end; the sweep has them", len(unfinished)
            )
        # The chores end by themselves once stopping is set. A sweep in flight must not be
        # cancelled: its thread would go on and wait forever for this loop to publish for it.
        _, stuck = await asyncio.wait(chores, timeout=10)
        for task in [*unfinished, *stuck]:
            task.cancel()
        await asyncio.gather(*unfinished, *chores, return_exceptions=True)
        await self.announcements.flush()
        logger.info("worker stopped")

    def stop(self, signum: int) -> None:
        logger.info("%s received: finishing the message in hand", signal.Signals(signum).name)
        self.stopping.set()

    async def serve(self, channel: str) -> None:
        """Run one consumer at a time on the channel, replacing it if it crashes."""
        lent = delivery.Collaborators(
            announce=self.announcements.add, stopping=self.stopping.is_set, gate=self.gate
        )
        scope = {"type": "channel", "channel": channel, delivery.Collaborators.SCOPE_KEY: lent}
        taken: deque[dict] = deque()  # taken off the channel for this slot, not handed on yet
        receive = partial(self.next_message, channel, taken)
        while not self.stopping.is_set():
            consumer = guarantee_single_callable(self.application)
            try:
                await consumer(scope=scope, receive=receive, send=self.ignore)
            except WorkerStopping:
                return
            except Exception:
                logger.exception("consumer on %s crashed; starting a fresh one", channel)
                await self.pause(1.0)  # no hot loop if it crashes again at once

    async def ignore(self, message: dict) -> None:
        """Channel consumers have nobody to reply to."""

    async def next_message(self, channel: str, taken: deque[dict]) -> dict:
        """The next message for a consumer, called when it is free: the wake-ups already
        waiting as one message (up to a batch, claimed at once), or else the next to come."""
        if self.stopping.is_set():
            raise WorkerStopping
        if not taken:
            try:
                waiting = await batches.take_waiting(
                    self.channel_layer, channel, limit=self.batch, share=self.concurrency
                )
            except Exception as exc:  # receive() reports an outage and outlives it
                logger.debug("could not take waiting messages: %s", exc)
                waiting = []
            taken.extend(messages.merge_wake_ups(waiting or [await self.receive(channel)]))
        return taken.popleft()

    async def receive(self, channel: str) -> dict:
        """Wait for one message, until the worker stops."""
        delay = 0.5
        while not self.stopping.is_set():
            receive = asyncio.ensure_future(self.channel_layer.receive(channel))
            stop = asyncio.ensure_future(self.stopping.wait())
            await asyncio.wait({receive, stop}, return_when=asyncio.FIRST_COMPLETED)
            stop.cancel()
            if not receive.done():
                # channels-redis keeps a message popped by a cancelled receive in a backup
                # queue and puts it back on the channel: nothing is lost here.
                receive.cancel()
                await asyncio.gather(receive, return_exceptions=True)
                break
            try:
                return receive.result()
            except Exception as exc:
                logger.warning(
                    "channel layer unavailable (%s: %s); retrying in %.1f s", type(exc).__name__, exc, delay
                )
                await self.pause(delay)
                delay = min(delay * 2, 10.0)
        raise WorkerStopping

    async def pause(self, seconds: float) -> None:
        """Sleep, but wake up at once when the worker is told to stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), timeout=seconds * random.uniform(0.8, 1.2))  # noqa: S311

    async def sweep_forever(self) -> None:
        sweep = database_sync_to_async(redrive.invitations_redrive)
        published = 0
        while True:
            # Found work last time? A backlog may be feeding through: look again soon.
            await self.pause(0.5 if published else app_settings.SWEEP_INTERVAL)
            if self.stopping.is_set():  # pause() returns at once when told to stop
                return
            try:
                published = await sweep()
            except health.DATABASE_AWAY as exc:  # a line a round while it lasts, not a traceback
                published = 0
                logger.warning("sweep: database unavailable (%s); trying again next round", exc)
            except Exception:
                published = 0
                logger.exception("sweep failed; trying again next round")
            else:
                if published:
                    logger.info("sweep published %d forgotten invitation(s)", published)

    async def purge_forever(self) -> None:
        """Delete expired sessions every SESSION_PURGE_INTERVAL: each followed link leaves one."""
        if interval := app_settings.SESSION_PURGE_INTERVAL:
            await self.every(interval, acceptance.sessions_purge, "expired sessions")

    async def retention_forever(self) -> None:
        """Under RETENTION_DAYS, delete the invitations that ended long ago, once a day for the
        whole fleet: each worker asks every hour, the first to take the day's lock purges."""
        if app_settings.RETENTION_DAYS is not None:
            await self.every(retention.CHECK_INTERVAL, retention.invitations_purge_daily, "ended invitations")

    async def every(self, seconds: float, work: Callable[[], object], what: str) -> None:
        """Run `work` (in a thread: it uses the database) now and every `seconds` until the worker
        stops; a failure is one warning line, and the next round tries again."""
        run = database_sync_to_async(work)
        while not self.stopping.is_set():
            try:
                await run()
            except Exception as exc:
                logger.warning("%s not purged (%s: %s)", what, type(exc).__name__, exc)
            await self.pause(seconds)

    async def announce_forever(self) -> None:
        while True:
            await self.pause(self.announcements.interval)
            if self.stopping.is_set():  # handle() flushes once the last message is done
                return
            await self.announcements.flush()

    async def beat_forever(self) -> None:
        async with async_redis(app_settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5) as client:
            while not self.stopping.is_set():
                try:
                    await liveness.beat(client)
                except Exception as exc:
                    logger.debug("heartbeat not written: %s", exc)
                await self.pause(liveness.HEARTBEAT_INTERVAL)
