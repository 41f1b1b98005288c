from __future__ import annotations

import asyncio
import datetime
import itertools

import jwt
import pytest

from tests.support.clock import FakeClock
from web.security import ALGORITHM, ISSUER, Claims, Role, TokenError, Tokens, UserCache


def test_rows_expire_and_can_be_forgotten() -> None:
    clock = FakeClock()
    cache = UserCache(ttl=2.0, clock=clock)
    assert cache.get("ana") == (False, None)
    cache.put("ana", (Role.STAFF, False, 3))
    cache.put("ghost", None)
    assert cache.get("ana") == (True, (Role.STAFF, False, 3))
    assert cache.get("ghost") == (True, None)  # "no such user" is cached too
    clock.now += 2.5
    assert cache.get("ana") == (False, None)
    cache.put("ana", (Role.ADMIN, False, 4))
    cache.forget("ana")
    assert cache.get("ana") == (False, None)


def test_zero_ttl_means_a_query_every_time() -> None:
    clock = FakeClock()
    cache = UserCache(ttl=0.0, clock=clock)
    cache.put("ana", (Role.STAFF, False, 1))
    clock.now += 0.001
    assert cache.get("ana") == (False, None)


async def test_concurrent_misses_share_one_query_and_forget_wins() -> None:
    cache = UserCache(ttl=60.0)
    queries = []
    gate = asyncio.Event()

    async def query() -> tuple[Role, bool, int]:
        queries.append(1)
        await gate.wait()
        return (Role.STAFF, False, 3)

    waiters = [asyncio.create_task(cache.load("ana", query)) for _ in range(4)]
    await asyncio.sleep(0)
    gate.set()
    assert await asyncio.gather(*waiters) == [(Role.STAFF, False, 3)] * 4
    assert len(queries) == 1 and cache.get("ana") == (True, (Role.STAFF, False, 3))

    gate.clear()
    cache.forget("ana")
    late = asyncio.create_task(cache.load("ana", query))
    await asyncio.sleep(0)
    cache.forget("ana")  # the user changed while the row was being read
    gate.set()
    await late
    assert cache.get("ana") == (False, None)  # that row is not kept


SECRET = "s" * 40


def test_verified_tokens_are_remembered_until_they_expire(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock(1_700_000_000.25)
    tokens = Tokens(SECRET, ttl_s=60, clock=clock)
    token, claims = tokens.make("ana", Role.STAFF, 1)
    decodes: list[str] = []
    real = tokens.decode

    def counted(t: str) -> Claims:
        decodes.append(t)
        return real(t)

    monkeypatch.setattr(tokens, "decode", counted)
    assert tokens.verify(token) == claims and tokens.verify(token) == claims
    assert len(decodes) == 1
    clock.now = int(claims.expires) - 0.01  # PyJWT: good while int(exp) > now
    assert tokens.verify(token) == claims and len(decodes) == 1
    clock.now = int(claims.expires)
    with pytest.raises(TokenError) as expired:
        tokens.verify(token)
    assert expired.value.code == "token_expired" and len(decodes) == 2


def test_the_injected_clock_keeps_pyjwts_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    """The same token at the same moment is good or bad alike for ``Tokens`` (on its
    injected clock) and for PyJWT's own checks (its clock frozen at that moment)."""
    moment = [0.0]

    class Frozen(datetime.datetime):
        @classmethod
        def now(cls, tz: datetime.tzinfo | None = None) -> Frozen:
            return cls.fromtimestamp(moment[0], tz)

    monkeypatch.setattr(jwt.api_jwt, "datetime", Frozen)
    seen = set()
    for now, leeway, exp_offset, iat_offset in itertools.product(
        [1_700_000_000.0, 1_700_000_000.75],
        [0.0, 5.0],
        [-10, -5.5, -5, -1, -0.5, 0, 0.5, 1, 5, 6],
        [-1, 0, 1, 4, 5, 6],
    ):
        moment[0] = now
        clock = FakeClock(now)
        tokens = Tokens(SECRET, ttl_s=60, clock=clock, leeway_s=leeway)
        payload = {"iss": ISSUER, "sub": "ana", "role": "staff", "ver": 1}
        payload |= {"iat": int(now + iat_offset), "exp": now + exp_offset}
        token = jwt.encode(payload, SECRET, algorithm=ALGORITHM)
        try:
            tokens.verify(token)
            ours = "good"
        except TokenError as exc:
            ours = exc.code
        try:
            jwt.decode(token, SECRET, algorithms=[ALGORITHM], issuer=ISSUER, leeway=leeway)
            theirs = "good"
        except jwt.ExpiredSignatureError:
            theirs = "token_expired"
        except jwt.PyJWTError:
            theirs = "invalid_token"
        assert ours == theirs, (now, leeway, exp_offset, iat_offset)
        if ours == "good":  # remembered exactly as long as PyJWT would pass it
            for later in (0.25, 0.5, 1.0, 5.0, 10.0):
                moment[0] = clock.now = now + later
                try:
                    jwt.decode(token, SECRET, algorithms=[ALGORITHM], issuer=ISSUER, leeway=leeway)
                    still = True
                except jwt.ExpiredSignatureError:
                    still = False
                assert (tokens.remembered(token) is not None) is still
        seen.add(ours)
    assert seen == {"good", "token_expired", "invalid_token"}


def test_only_good_tokens_are_remembered_and_at_most_verified_max() -> None:
    tokens = Tokens(SECRET, ttl_s=60, verified_max=2)
    made = [tokens.make(name, Role.VIEWER, 1)[0] for name in ("a", "b", "c")]
    for t in made:
        tokens.verify(t)
    assert list(tokens._verified) == made[1:]  # the least recently used left
    forged = made[0][:-4] + ("AAAA" if not made[0].endswith("AAAA") else "BBBB")
    for _ in range(2):
        with pytest.raises(TokenError):
            tokens.verify(forged)
    assert forged not in tokens._verified
