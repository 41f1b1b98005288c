"""Exponential backoff with full jitter, shared by every reconnect loop.

The policy itself is redis-py's ``FullJitterBackoff``; this only counts failures.
"""

from __future__ import annotations

from redis.backoff import FullJitterBackoff


class Backoff:
    def __init__(self, base: float = 0.1, cap: float = 5.0) -> None:
        self._policy = FullJitterBackoff(cap=cap, base=base)
        self.failures = 0

    def next(self) -> float:
        delay = float(self._policy.compute(self.failures))
        self.failures += 1
        return delay

    def reset(self) -> None:
        self.failures = 0
