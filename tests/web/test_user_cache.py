from __future__ import annotations

import asyncio
import time

import pytest

from web.security import Role, TokenError, Tokens, UserCache


def test_rows_expire_and_can_be_forgotten(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    cache = UserCache(ttl=2.0)
    assert cache.get("ana") == (False, None)
    cache.put("ana", ("staff", False, 3))
    cache.put("ghost", None)
    assert cache.get("ana") == (True, ("staff", False, 3))
    assert cache.get("ghost") == (True, None)  # "no such user" is cached too
    now[0] += 2.5
    assert cache.get("ana") == (False, None)
    cache.put("ana", ("admin", False, 4))
    cache.forget("ana")
    assert cache.get("ana") == (False, None)


def test_zero_ttl_means_a_query_every_time() -> None:
    cache = UserCache(ttl=0.0)
    cache.put("ana", ("staff", False, 1))
    time.sleep(0.001)
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
    tokens = Tokens(SECRET, ttl_s=60)
    token, claims = tokens.make("ana", Role.STAFF, 1, now=time.time() - 58.5)  # 1.5 s left
    decodes = []
    real = tokens.decode
    monkeypatch.setattr(tokens, "decode", lambda t: decodes.append(t) or real(t))
    assert tokens.verify(token) == claims and tokens.verify(token) == claims
    assert len(decodes) == 1
    while time.time() < int(claims.expires):  # PyJWT: good while int(exp) > now
        time.sleep(0.05)
    with pytest.raises(TokenError) as expired:
        tokens.verify(token)
    assert expired.value.code == "token_expired" and len(decodes) == 2


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
