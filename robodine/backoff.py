"""Reconnect delays: exponential with full jitter, for every retry loop of the project.

Full jitter (the delay uniform in ``[0, min(cap, base * 2**n)]``, as redis-py's
``FullJitterBackoff``) keeps many clients that lost the same server from
coming back as one synchronised wave: a fleet of robots after a gateway
restart, or the web tier's readers after a Redis restart. The random source
is injectable so a seeded simulation replays the same delays.
"""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    __slots__ = ("_rng", "attempts", "base", "cap")

    def __init__(self, base: float, cap: float, *, rng: random.Random | None = None) -> None:
        if not 0 < base <= cap:
            raise ValueError("need 0 < base <= cap")
        self.base, self.cap = base, cap
        self.attempts = 0  # failures since the last reset
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt: uniform in [0, min(cap, base * 2**n)]."""
        ceiling = min(self.cap, self.base * 2 ** min(self.attempts, 32))
        self.attempts += 1
        return self._rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        self.attempts = 0
