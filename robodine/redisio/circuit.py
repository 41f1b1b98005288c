"""Fail fast while Redis does not answer: the web tier's requests get a 503 at once.

A Redis that hangs (SIGSTOP, a stuck fsync, a peer gone without RST) still
has its connections accepted by the kernel; every command then waits out its
reply timeout. With one command per request that bound is paid by every
request, so the circuit opens on the first timeout (or failed connect) and
from then on Redis calls raise ``RedisUnavailable`` without being sent. Once
every ``probe_interval_s`` one call goes through as a probe; the first reply
of any call, probe or one that was already in flight, closes the circuit.

A connection error on a socket that was open (reset, closed by the server)
does not open it by itself: a client that retries reconnects at once, and
only a reconnect that fails says Redis is away.

Opening and closing are logged once each (``redis_circuit_open`` with the
error, ``redis_circuit_closed`` with the outage's length and how many calls
were refused meanwhile).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import structlog
from redis.exceptions import ConnectionError as RedisConnectionError

__all__ = ["Circuit", "RedisUnavailable"]

log = structlog.get_logger("redis.circuit")


class RedisUnavailable(RedisConnectionError):
    """Not sent: the last Redis call failed and the next probe is not due yet."""


class Circuit:
    __slots__ = ("_error", "_next_probe", "clock", "open_since", "probe_interval_s", "refused")

    def __init__(
        self, probe_interval_s: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.probe_interval_s = probe_interval_s
        self.clock = clock
        self.open_since: float | None = None  # clock() of the failure that opened it
        self.refused = 0  # calls refused without being sent, in this outage
        self._next_probe = 0.0
        self._error = ""

    def check(self) -> None:
        """Before a call: raise RedisUnavailable while open, unless a probe is due."""
        if self.open_since is None:
            return
        now = self.clock()
        if now >= self._next_probe:
            self._next_probe = now + self.probe_interval_s  # this call is the probe
            return
        self.refused += 1
        raise RedisUnavailable(
            f"Redis failed {now - self.open_since:.1f}s ago ({self._error}); "
            f"tried again within {self.probe_interval_s}s"
        )

    def failed(self, exc: BaseException) -> None:
        now = self.clock()
        self._next_probe = now + self.probe_interval_s
        self._error = str(exc) or type(exc).__name__
        if self.open_since is None:
            self.open_since = now
            self.refused = 0
            log.warning("redis_circuit_open", error=self._error, probe_s=self.probe_interval_s)

    def answered(self) -> None:
        if self.open_since is not None:
            outage_s = round(self.clock() - self.open_since, 3)
            self.open_since = None
            log.info("redis_circuit_closed", outage_s=outage_s, refused=self.refused)
