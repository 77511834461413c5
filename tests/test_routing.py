"""routing.serving, the wrapper of every host's asgi.py: the web process's ASGI lifespan (the
real SIGTERM is tests/integration/test_faults_deploy.py's)."""

import asyncio

from invitations import background, routing


async def not_for_lifespan(scope, receive, send):
    raise ValueError(f"No application configured for scope type {scope['type']!r}")  # as Channels' router


def test_shutdown_completes_only_once_the_wake_ups_still_going_out_are_published(settings, monkeypatch):
    settings.INVITATIONS = {**settings.INVITATIONS, "SHUTDOWN_TIMEOUT": 5.0}
    events: list[str] = []

    async def publishing_finished(timeout: float) -> None:
        await asyncio.sleep(0.05)
        events.append(f"wake-ups published (waited up to {timeout} s)")

    monkeypatch.setattr(background.web, "finished", publishing_finished)

    async def scenario() -> None:
        server = asyncio.Queue()
        for message in ("lifespan.startup", "lifespan.shutdown"):
            server.put_nowait({"type": message})

        async def send(message: dict) -> None:
            events.append(message["type"])

        app = routing.serving(not_for_lifespan)
        await asyncio.wait_for(app({"type": "lifespan", "asgi": {"version": "3.0"}}, server.get, send), 5)

    asyncio.run(scenario())
    assert events == [
        "lifespan.startup.complete",
        "wake-ups published (waited up to 5.0 s)",
        "lifespan.shutdown.complete",
    ]
