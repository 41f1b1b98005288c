"""The shared backoff and supervisor: delays within their bounds, one log line per transition."""

from __future__ import annotations

import random
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from redis.exceptions import ConnectionError as RedisConnectionError

from robodine.backoff import Backoff
from robodine.supervisor import Supervisor

log = structlog.get_logger("test")


@given(
    base=st.floats(0.001, 1.0),
    factor=st.floats(1.0, 100.0),
    failures=st.integers(0, 80),
    seed=st.integers(0, 2**32),
)
def test_backoff_is_full_jitter_under_a_doubling_ceiling(
    base: float, factor: float, failures: int, seed: int
) -> None:
    cap = base * factor
    b = Backoff(base, cap, rng=random.Random(seed))
    for n in range(failures):
        assert 0.0 <= b.next() <= min(cap, base * 2**n)
    assert b.attempts == failures
    b.reset()
    assert b.attempts == 0 and b.next() <= base


def test_backoff_replays_with_the_same_seed_and_refuses_nonsense() -> None:
    a, b = Backoff(0.1, 5.0, rng=random.Random(7)), Backoff(0.1, 5.0, rng=random.Random(7))
    assert [a.next() for _ in range(10)] == [b.next() for _ in range(10)]
    with pytest.raises(ValueError, match="base <= cap"):
        Backoff(2.0, 1.0)
    with pytest.raises(ValueError, match="0 < base"):
        Backoff(0.0, 1.0)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_an_outage_is_logged_once_each_way_with_its_length_and_the_gauge_follows() -> None:
    clock = Clock()
    gauge: list[int] = []
    outages: list[None] = []
    sleeps: list[float] = []
    sup = Supervisor(
        log,
        lost="thing_unavailable",
        recovered="thing_recovered",
        backoff=Backoff(0.1, 1.0, rng=random.Random(1)),
        policy="keeping calm",
        gauge=gauge.append,
        on_outage=lambda: outages.append(None),
        clock=clock,
        context={"thing": "t-1"},
    )
    attempts = 0
    errors_seen: list[BaseException] = []

    async def step() -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 4:
            raise RedisConnectionError(f"refused #{attempts}")
        sup.ok(extra=attempts)
        if attempts == 6:
            raise RedisConnectionError("again")
        if attempts == 7:
            stop.append(True)

    async def sleep(delay: float) -> None:
        sleeps.append(delay)
        clock.now += 2.5

    stop: list[bool] = []
    with structlog.testing.capture_logs() as logs:
        await sup.run(
            step,
            errors=RedisConnectionError,
            running=lambda: not stop,
            on_error=errors_seen.append,
            sleep=sleep,
        )
    assert attempts == 7 and len(errors_seen) == 5 and len(sleeps) == 5
    assert [e["event"] for e in logs] == [
        "thing_unavailable",
        "thing_recovered",
        "thing_unavailable",
        "thing_recovered",
    ]
    down, up = logs[0], logs[1]
    assert down["error"] == "refused #1" and down["policy"] == "keeping calm"
    assert down["thing"] == "t-1" and down["log_level"] == "warning"
    assert up["outage_s"] == 10.0 and up["extra"] == 5 and up["thing"] == "t-1"
    assert "policy" not in up
    assert len(outages) == 2
    assert gauge[:5] == [0, 0, 0, 0, 1] and gauge[-1] == 1
    # the backoff doubles during an outage and starts again after the recovery
    assert sleeps[0] <= 0.1 and sleeps[3] <= 0.8 and sleeps[4] <= 0.1


async def test_errors_it_does_not_expect_propagate_and_a_bug_is_logged_with_its_traceback() -> None:
    backoff = Backoff(0.01, 0.01)
    sup = Supervisor(log, lost="l", recovered="r", backoff=backoff, bug="bug", outages=OSError)
    with structlog.testing.capture_logs() as logs:
        assert sup.failed(KeyError("oops"))
        assert not sup.failed(OSError("x"))  # still the same outage
    assert [(e["event"], e["log_level"]) for e in logs] == [("bug", "error")]
    assert isinstance(logs[0]["exc_info"], KeyError)

    async def step() -> None:
        raise ValueError("not an outage")

    with pytest.raises(ValueError, match="not an outage"):
        await sup.run(step, errors=OSError)


async def test_a_component_that_starts_down_logs_its_first_failure_and_no_false_recovery() -> None:
    sup = Supervisor(log, lost="l", recovered="r", backoff=Backoff(0.1, 1.0), up=False)
    with structlog.testing.capture_logs() as logs:
        assert not sup.ok()  # first connect: nothing to recover from
        assert sup.up
        assert sup.failed("disconnected")
        assert sup.ok()
    assert [e["event"] for e in logs] == ["l", "r"] and logs[0]["error"] == "disconnected"


async def test_it_stops_after_an_error_once_running_turns_false() -> None:
    sup = Supervisor(log, lost="l", recovered="r", backoff=Backoff(10.0, 10.0))
    calls: list[Any] = []

    async def step() -> None:
        calls.append(1)
        raise OSError("down")

    state = {"running": True}

    def on_error(_: BaseException) -> None:
        state["running"] = False

    with structlog.testing.capture_logs():
        await sup.run(step, errors=OSError, running=lambda: state["running"], on_error=on_error)
    assert calls == [1]  # no 10 s sleep, no second attempt
