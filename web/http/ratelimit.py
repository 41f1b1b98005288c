"""Token buckets per key (user, client address), bounded in number: old keys are forgotten."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from protocol.ratelimit import TokenBucket


class KeyedLimiter:
    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate, self.burst, self.max_keys, self.clock = rate, burst, max_keys, clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, key: str, cost: float = 1.0) -> bool:
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket.allow(now, cost)

    def retry_after(self, key: str, cost: float = 1.0) -> float:
        """Seconds until ``cost`` tokens are there again (0 if they are)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            return 0.0
        bucket.allow(self.clock(), 0.0)  # refill to now
        missing = cost - bucket._tokens
        return max(0.0, missing / self.rate)
