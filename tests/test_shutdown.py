"""The web process's drain (invitations/shutdown.py), with daphne's cancel played by hand;
tests/integration/test_faults_deploy.py sends a real daphne a real SIGTERM."""

import asyncio
import logging

from invitations.shutdown import finish_requests_on_shutdown


def held_application(released: asyncio.Event, answered: list):
    async def application(scope, receive, send):
        await released.wait()
        answered.append(scope["path"])

    return application


async def start(application, scope: dict) -> asyncio.Future:
    instance = asyncio.ensure_future(application(scope, None, None))
    await asyncio.sleep(0)  # the server has started it
    return instance


def test_a_request_that_the_server_cancels_still_answers_and_the_drain_waits_for_it():
    async def scenario():
        released, answered, then_called = asyncio.Event(), [], []

        async def then(seconds_left: float) -> None:
            then_called.append((list(answered), seconds_left))

        app = finish_requests_on_shutdown(held_application(released, answered), timeout=5, then=then)
        instance = await start(app, {"type": "http", "path": "/invites/new/"})
        instance.cancel()  # daphne, on SIGTERM, to every application instance
        drain = asyncio.ensure_future(app.drain())
        await asyncio.sleep(0.05)
        assert not drain.done(), "the drain waits for the request"
        released.set()
        await asyncio.wait_for(drain, timeout=1)
        assert answered == ["/invites/new/"]
        [(answered_first, seconds_left)] = then_called
        assert answered_first == ["/invites/new/"], "then() runs after the requests"
        assert 4 < seconds_left <= 5

    asyncio.run(scenario())


def test_the_drain_gives_up_after_its_timeout_and_says_so(caplog):
    async def scenario():
        app = finish_requests_on_shutdown(held_application(asyncio.Event(), []), timeout=0.1)
        await start(app, {"type": "http", "path": "/stuck/"})
        await asyncio.wait_for(app.drain(), timeout=1)

    with caplog.at_level(logging.WARNING, logger="invitations.shutdown"):
        asyncio.run(scenario())
    assert "1 request(s) unfinished after 0.1 s" in caplog.text


def test_websockets_are_left_to_the_server():
    async def scenario():
        released, answered = asyncio.Event(), []
        app = finish_requests_on_shutdown(held_application(released, answered), timeout=5)
        instance = await start(app, {"type": "websocket", "path": "/ws/invites/"})
        instance.cancel()
        await asyncio.wait_for(app.drain(), timeout=1)  # nothing to wait for
        released.set()
        await asyncio.sleep(0.01)
        assert answered == [], "the cancel reached the WebSocket consumer"

    asyncio.run(scenario())


def test_a_request_that_arrives_while_the_drain_runs_is_waited_for_too():
    async def scenario():
        released, answered, late = asyncio.Event(), [], []

        async def then(seconds_left: float) -> None:
            if not late:  # the first time: a request comes in, answered 50 ms later
                late.append(await start(app, {"type": "http", "path": "/late/"}))
                asyncio.get_running_loop().call_later(0.05, released.set)

        app = finish_requests_on_shutdown(held_application(released, answered), timeout=5, then=then)
        await asyncio.wait_for(app.drain(), timeout=1)
        assert answered == ["/late/"]

    asyncio.run(scenario())


def test_a_request_that_fails_after_the_server_cancelled_it_is_logged(caplog):
    async def failing(scope, receive, send):
        await asyncio.sleep(0.01)
        raise RuntimeError("the view broke")

    async def scenario():
        app = finish_requests_on_shutdown(failing, timeout=5)
        instance = await start(app, {"type": "http", "path": "/invites/new/"})
        instance.cancel()
        await asyncio.wait_for(app.drain(), timeout=1)

    with caplog.at_level(logging.ERROR, logger="invitations.shutdown"):
        asyncio.run(scenario())
    assert "request failed while the web process was stopping" in caplog.text
    assert "the view broke" in caplog.text


def test_the_wake_ups_get_a_second_even_when_the_requests_used_the_whole_timeout():
    async def scenario():
        given = []

        async def then(seconds_left: float) -> None:
            given.append(seconds_left)

        app = finish_requests_on_shutdown(held_application(asyncio.Event(), []), timeout=0.1, then=then)
        await start(app, {"type": "http", "path": "/stuck/"})
        await asyncio.wait_for(app.drain(), timeout=1)
        assert given == [1.0]

    asyncio.run(scenario())
