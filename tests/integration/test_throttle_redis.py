"""The fleet's send rate and a provider's pause, kept in a real Redis by several gates at once."""

import threading
import time
import uuid

import pytest

from invitations.throttle import BURST, SendGate, parse_rate
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


@pytest.mark.parametrize(("text", "microseconds"), [("20/s", 50_000), ("600/m", 100_000), (" 3600 / h", 1e6)])
def test_a_rate_is_written_per_second_minute_or_hour(text, microseconds):
    assert parse_rate(text) == microseconds


@pytest.mark.parametrize("text", ["14", "14/d", "0/s", "fast"])
def test_a_rate_written_otherwise_is_refused_saying_how_to_write_it(text):
    with pytest.raises(ValueError, match="like 14/s, 600/m or 3000/h"):
        parse_rate(text)


def test_gates_of_several_workers_share_one_rate_spaced_out(gates):
    workers = [gates("10/s") for _ in range(3)]  # as if three worker processes
    turns, deadline = [], time.monotonic() + 2.5

    def take(gate):
        while gate.wait_turn(lambda: time.monotonic() >= deadline):
            turns.append(time.monotonic())

    threads = [threading.Thread(target=take, args=(gate,)) for gate in workers for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    turns.sort()
    busiest = max(sum(1 for t in turns if start <= t < start + 1) for start in turns)
    assert busiest <= 10 + BURST + 1  # the rate, the burst, and a turn on the window's edge
    assert 24 <= len(turns) <= 2.5 * 10 + BURST + 1  # the rate is used, and not exceeded
    paced = turns[BURST + 1 :]
    gaps = sorted(later - earlier for earlier, later in zip(paced, paced[1:], strict=False))
    assert gaps[len(gaps) // 2] > 0.07  # after the burst, about 0.1 s apart


def test_a_pause_holds_every_gate_and_a_stopping_worker_stops_waiting_at_once(gates):
    first, second = gates(), gates()
    first.pause(30)
    stopped = threading.Event()
    threading.Timer(0.3, stopped.set).start()

    began = time.monotonic()
    assert second.wait_turn(stopped.is_set) is False
    assert time.monotonic() - began < 1.5  # not the 30 s of the pause

    first.pause(0.2)  # a shorter pause leaves the longer one in place
    assert second.redis.pttl(second.keys[1]) > 20_000


def test_without_a_rate_or_a_pause_a_turn_is_free(gates):
    gate = gates()

    assert gate.limited is False
    assert gate.wait_turn(lambda: False) is True


def test_a_mail_of_the_priority_lane_takes_the_next_turn_before_the_waiting_bulk(gates):
    # 18 consumers (3 workers of 6) each wait for a turn for a bulk mail at 20/s. A newcomer
    # polled for its turn against all of them and got it at random: 0.6 s at the median, 3.3 s
    # at worst (issue 28's single invite at p99). In the lane it is next.
    rate, stop, turns = "20/s", threading.Event(), []

    def bulk(gate):
        while gate.wait_turn(stop.is_set):
            turns.append(time.monotonic())

    threads = [threading.Thread(target=bulk, args=(gates(rate),)) for _ in range(18)]
    for thread in threads:
        thread.start()
    lane, waits = gates(rate), []
    try:
        time.sleep(0.5)  # every bulk consumer is waiting
        for _ in range(10):
            began = time.monotonic()
            assert lane.wait_turn(lambda: False, ahead=True) is True
            turns.append(time.monotonic())
            waits.append(time.monotonic() - began)
            time.sleep(0.1)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert max(waits) < 0.25  # the turn after the one being taken (0.05 s apart), and polling
    turns.sort()
    busiest = max(sum(1 for t in turns if start <= t < start + 1) for start in turns)
    assert busiest <= 20 + BURST + 1  # the lane takes the bulk's turns, never more of them
