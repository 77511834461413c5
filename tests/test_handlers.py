"""The web process's ASGI handler: each request on one thread of a bounded pool, start to finish."""

import asyncio
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.core import signals
from django.db import connection
from django.http import HttpResponse, StreamingHttpResponse
from django.urls import path

from invitations.models import Invitation
from myproject.handlers import ThreadedASGIHandler

pytestmark = pytest.mark.urls(__name__)

events: list[tuple[str, str]] = []  # (what happened, on which thread)
running = {"now": 0, "most": 0}
running_lock = threading.Lock()


def note(what: str) -> None:
    events.append((what, threading.current_thread().name))


def plain(request):
    note("view")
    return HttpResponse("hello", headers={"X-Served": "yes"})


def streamed(request):
    def chunks():
        for part in ("one,", "two,", "three"):
            note(f"chunk {part}")
            yield part

    return StreamingHttpResponse(chunks())


def slow(request):
    with running_lock:
        running["now"] += 1
        running["most"] = max(running["most"], running["now"])
    time.sleep(0.2)
    with running_lock:
        running["now"] -= 1
    return HttpResponse("done")


def broken(request):
    raise RuntimeError("the view broke")


def counting(request):
    return HttpResponse(str(Invitation.objects.count()))


urlpatterns = [
    path("plain/", plain),
    path("streamed/", streamed),
    path("slow/", slow),
    path("broken/", broken),
    path("counting/", counting),
]


@pytest.fixture(autouse=True)
def recorded_signals():
    events.clear()
    running.update(now=0, most=0)
    started = lambda **kwargs: note("request_started")  # noqa: E731
    finished = lambda **kwargs: note("request_finished")  # noqa: E731
    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    yield
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


@pytest.fixture
def handler():
    handler = ThreadedASGIHandler(threads=2)
    yield handler
    handler.executor.shutdown(wait=True)


@async_to_sync
async def fetch(handler, url, *, method="GET", body=b"", times=1) -> list[dict]:
    return await asyncio.gather(
        *(
            HttpCommunicator(
                handler, method, url, body=body, headers=[(b"host", b"testserver")]
            ).get_response(timeout=5)
            for _ in range(times)
        )
    )


def test_a_request_lives_on_one_pool_thread(handler):
    (response,) = fetch(handler, "/plain/")

    assert response["status"] == 200
    assert response["body"] == b"hello"
    assert (b"X-Served", b"yes") in response["headers"]
    assert [what for what, _ in events] == ["request_started", "view", "request_finished"]
    threads = {thread for _, thread in events}
    assert len(threads) == 1
    assert threads.pop().startswith("request")


def test_a_streaming_response_is_read_and_closed_on_its_thread_after_the_last_chunk(handler):
    (response,) = fetch(handler, "/streamed/")

    assert response["status"] == 200
    assert response["body"] == b"one,two,three"
    # The client has the last chunk before the thread closes the response and finishes.
    deadline = time.monotonic() + 5
    while len(events) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert [what for what, _ in events] == [
        "request_started",
        "chunk one,",
        "chunk two,",
        "chunk three",
        "request_finished",
    ]
    assert len({thread for _, thread in events}) == 1


def test_requests_run_at_once_up_to_the_pool_size(handler):
    responses = fetch(handler, "/slow/", times=5)

    assert [response["status"] for response in responses] == [200] * 5
    assert running["most"] == 2


def test_a_view_that_raises_answers_500_and_still_finishes_the_request(handler):
    (response,) = fetch(handler, "/broken/")

    assert response["status"] == 500
    assert [what for what, _ in events] == ["request_started", "request_finished"]


def test_an_unknown_url_answers_404(handler):
    (response,) = fetch(handler, "/nowhere/")

    assert response["status"] == 404


def test_a_post_without_a_csrf_token_is_refused(handler):
    (response,) = fetch(handler, "/plain/", method="POST", body=b"a=1")

    assert response["status"] == 403
    assert "view" not in [what for what, _ in events]


def test_only_http_is_served(handler):
    with pytest.raises(ValueError, match="websocket"):
        async_to_sync(handler)({"type": "websocket"}, None, None)


@pytest.mark.django_db(transaction=True)
def test_the_request_thread_gives_its_database_connection_back_when_the_request_ends():
    handler = ThreadedASGIHandler(threads=1)  # one thread: the next job runs where the view ran
    try:
        (response,) = fetch(handler, "/counting/")
        assert response["body"] == b"0"
        assert handler.executor.submit(lambda: connection.connection is None).result(timeout=5)
    finally:
        handler.executor.shutdown(wait=True)
