"""The fleet's send rate and a provider's pause, kept in a real Redis by several gates at once."""

import threading
import time
import uuid

import pytest

from invitations.throttle import SendGate, parse_rate
from tests.integration.conftest import REDIS_URL


@pytest.fixture
def gates(redis_client):
    """Makes gates on a key prefix of the test's own, as if each were another worker process."""
    prefix, made = f"it{uuid.uuid4().hex[:10]}", []

    def gate(rate: str | None = None) -> SendGate:
        made.append(SendGate(rate=rate, redis_url=REDIS_URL, prefix=prefix))
        return made[-1]

    yield gate
    for each in made:
        each.close()
    keys = list(redis_client.scan_iter(match=f"{prefix}*"))
    if keys:
        redis_client.delete(*keys)


def never() -> bool:
    return False


@pytest.mark.parametrize(
    ("text", "amount", "seconds"), [("14/s", 14, 1), ("600/m", 600, 60), (" 3000 / h", 3000, 3600)]
)
def test_a_rate_is_written_per_second_minute_or_hour(text, amount, seconds):
    item = parse_rate(text)

    assert (item.amount, item.get_expiry()) == (amount, seconds)


@pytest.mark.parametrize("text", ["14", "14/d", "0/s", "fast"])
def test_a_rate_written_otherwise_is_refused_saying_how_to_write_it(text):
    with pytest.raises(ValueError, match="like 14/s, 600/m or 3000/h"):
        parse_rate(text)


def stamping(gate: SendGate, stamps: list[float]) -> SendGate:
    """Record when each granted hit was stamped: the time the limiter counts it at."""
    hit = gate.limiter.hit

    def recorded(item, *identifiers):
        stamp = time.time()
        granted = hit(item, *identifiers)
        if granted:
            stamps.append(stamp)
        return granted

    gate.limiter.hit = recorded
    return gate


def test_gates_of_several_workers_share_one_rate(gates):
    stamps: list[float] = []
    workers = [stamping(gates("10/s"), stamps) for _ in range(3)]
    deadline = time.monotonic() + 2.5

    def take(gate):
        while time.monotonic() < deadline:
            gate.wait_turn(lambda: time.monotonic() >= deadline)

    threads = [threading.Thread(target=take, args=(gate,)) for gate in workers for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    stamps.sort()
    busiest = max(sum(1 for t in stamps if start <= t < start + 1) for start in stamps)
    assert busiest == 10  # no second of the run saw more than the rate, and some saw all of it
    assert len(stamps) >= 25  # 2.5 s at 10/s


def test_a_pause_holds_every_gate_and_a_stopping_worker_stops_waiting_at_once(gates):
    first, second = gates(), gates()
    first.pause(30)
    stopped = threading.Event()
    threading.Timer(0.3, stopped.set).start()

    began = time.monotonic()
    assert second.wait_turn(stopped.is_set) is False
    assert time.monotonic() - began < 1.5  # not the 30 s of the pause

    first.pause(0.2)  # a shorter pause leaves the longer one in place
    assert second.redis.pttl(second.pause_key) > 20_000


def test_without_a_rate_or_a_pause_a_turn_is_free(gates):
    gate = gates()

    assert gate.limited is False
    assert gate.wait_turn(never) is True
