"""The circuit, alone (a test clock) and in the request client (a real redis-server, SIGSTOP)."""

from __future__ import annotations

import time

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from config.settings import RedisSettings
from robodine.redisio.circuit import Circuit, RedisUnavailable
from robodine.redisio.client import connect
from tests.servers import RedisServer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_open_refuses_until_the_probe_is_due_and_an_answer_closes_it() -> None:
    clock = Clock()
    c = Circuit(1.0, clock=clock)
    c.check()  # closed: nothing refused
    with structlog.testing.capture_logs() as logs:
        c.failed(TimeoutError("no reply"))
        with pytest.raises(RedisUnavailable, match="no reply"):
            c.check()
        clock.now = 0.99
        with pytest.raises(RedisUnavailable):
            c.check()
        clock.now = 1.0
        c.check()  # the probe goes through ...
        with pytest.raises(RedisUnavailable):
            c.check()  # ... and only the probe
        c.failed(TimeoutError("still nothing"))  # the probe failed: next one in 1 s
        clock.now = 1.5
        with pytest.raises(RedisUnavailable, match="still nothing"):
            c.check()
        clock.now = 2.5
        c.check()
        c.answered()
        c.check()
        c.check()
    assert [e["event"] for e in logs] == ["redis_circuit_open", "redis_circuit_closed"]
    assert logs[1]["outage_s"] == 2.5 and logs[1]["refused"] == 4


class CircuitMachine(RuleBasedStateMachine):
    """Whatever happens, at most one call per probe interval reaches an open circuit's Redis."""

    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self.circuit = Circuit(1.0, clock=self.clock)
        self.sent_while_open: list[float] = []
        self.is_open = False

    @rule(dt=st.floats(0.0, 3.0))
    def time_passes(self, dt: float) -> None:
        self.clock.now += dt

    @rule()
    def call(self) -> None:
        try:
            self.circuit.check()
        except RedisUnavailable:
            assert self.is_open
            return
        if self.is_open:
            self.sent_while_open.append(self.clock.now)

    @rule()
    def fails(self) -> None:
        self.circuit.failed(TimeoutError("t"))
        self.is_open = True

    @precondition(lambda self: self.is_open)
    @rule()
    def answers(self) -> None:
        self.circuit.answered()
        self.is_open = False
        self.sent_while_open.clear()

    @invariant()
    def probes_are_spaced(self) -> None:
        gaps = [b - a for a, b in zip(self.sent_while_open, self.sent_while_open[1:], strict=False)]
        assert all(g >= 1.0 for g in gaps), self.sent_while_open
        assert (self.circuit.open_since is not None) == self.is_open


TestCircuitMachine = CircuitMachine.TestCase


@given(st.text(max_size=30))
def test_the_refusal_says_why(error: str) -> None:
    c = Circuit(5.0, clock=Clock())
    c.failed(OSError(error) if error else OSError())
    with pytest.raises(RedisUnavailable) as refused:
        c.check()
    assert (error or "OSError") in str(refused.value)


@pytest.mark.integration
async def test_a_hung_redis_costs_one_reply_timeout_then_nothing(
    redis_private: RedisServer,
) -> None:
    settings = RedisSettings(url=redis_private.url, request_timeout_s=0.3, connect_timeout_s=2.0)
    circuit = Circuit(30.0)  # no probe during the test
    client = connect(settings, name="t:web", decode=True, circuit=circuit)
    assert await client.set("k", "v") and await client.get("k") == "v"
    with redis_private.frozen():
        t0 = time.monotonic()
        with pytest.raises(RedisTimeoutError):
            await client.get("k")
        first = time.monotonic() - t0
        t0 = time.monotonic()
        for _ in range(20):
            with pytest.raises(RedisUnavailable):
                await client.get("k")
        pipe = client.pipeline(transaction=False)
        pipe.get("k")
        with pytest.raises(RedisUnavailable):
            await pipe.execute()
        refused = time.monotonic() - t0
    assert 0.25 < first < 1.5, first  # one reply timeout: no retry of a timeout
    assert refused < 0.5, refused  # 21 calls, none sent
    assert circuit.refused == 21
    circuit.probe_interval_s = 0.0  # the next call probes: Redis answers, the circuit closes
    circuit.failed(TimeoutError("make the next call the probe"))
    assert await client.get("k") == "v"
    assert circuit.open_since is None
    await client.aclose()


@pytest.mark.integration
async def test_a_socket_redis_closed_while_idle_is_retried_once_without_opening_it(
    redis_private: RedisServer,
) -> None:
    settings = RedisSettings(url=redis_private.url)
    circuit = Circuit(30.0)
    client = connect(settings, name="t:stale", decode=True, circuit=circuit)
    assert await client.ping()
    admin = connect(settings, name="t:admin", decode=True)
    assert await admin.client_kill_filter(_type="normal", skipme=True) >= 1  # t:stale's socket
    assert await client.get("missing") is None  # retried on a new connection
    assert (circuit.open_since, circuit.refused) == (None, 0)  # (not narrowed: it changes)
    redis_private.kill()
    with pytest.raises(RedisConnectionError):  # refused connect: the circuit opens
        await client.get("k")
    assert circuit.open_since is not None
    await client.aclose()
    await admin.aclose()
