"""Reconnect delays: exponential with full jitter, so a fleet that lost its gateway
does not come back as one synchronised wave (the AWS "full jitter" scheme, as in
redis-py's backoff.py)."""

from __future__ import annotations

import random

__all__ = ["Backoff"]


class Backoff:
    __slots__ = ("_rng", "attempts", "base", "cap")

    def __init__(self, base: float = 0.2, cap: float = 10.0, rng: random.Random | None = None
                 ) -> None:
        if not 0 < base <= cap:
            raise ValueError("need 0 < base <= cap")
        self.base, self.cap = base, cap
        self.attempts = 0
        self._rng = rng or random.Random()

    def next(self) -> float:
        """The delay before the next attempt: uniform in [0, min(cap, base * 2**n)]."""
        ceiling = min(self.cap, self.base * 2 ** min(self.attempts, 32))
        self.attempts += 1
        return self._rng.uniform(0.0, ceiling)

    def reset(self) -> None:
        self.attempts = 0
