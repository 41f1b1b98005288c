from __future__ import annotations

import time

import pytest

from web.security import UserCache


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
