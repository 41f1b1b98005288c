"""Token buckets per key (user, client address), bounded in number: old keys are forgotten."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable

from config.settings import WebSettings
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


def _per_min(n: int) -> KeyedLimiter:
    return KeyedLimiter(n / 60.0, n)


class LoginLimits:
    """Failed logins, counted three ways; an attempt waits while any of the three is spent.

    Per client address *and* username (the tightest): one address guessing one
    account is stopped without locking out anyone else behind the same address
    (the guests' and the staff's Wi-Fi often share one NAT address). Per
    username from any address (looser than the first, so one address alone
    cannot spend it): a guesser spread over many addresses. Per address for
    any username (the loosest, sized for a NAT): one address spraying many
    usernames, each failure an argon2 hash.
    """

    def __init__(self, settings: WebSettings) -> None:
        self.pair = _per_min(settings.login_attempts_per_min)
        self.user = _per_min(settings.login_attempts_per_user_per_min)
        self.address = _per_min(settings.login_attempts_per_address_per_min)

    def _buckets(self, address: str, username: str) -> list[tuple[str, KeyedLimiter, str]]:
        return [
            ("address_username", self.pair, f"{address}\n{username}"),
            ("username", self.user, username),
            ("address", self.address, address),
        ]

    def wait(self, address: str, username: str) -> tuple[float, str]:
        """(seconds until an attempt is let through, the limit that holds it: the longest)."""
        return max(
            (lim.retry_after(key), name) for name, lim, key in self._buckets(address, username)
        )

    def failed(self, address: str, username: str) -> None:
        for _, limiter, key in self._buckets(address, username):
            limiter.allow(key)
