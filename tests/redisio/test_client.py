"""The C packer produces exactly redis-py's bytes, and the client still works end to end."""

from __future__ import annotations

from typing import Any, cast

import hiredis
import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio.connection import Connection

from config.settings import RedisSettings
from robodine.redisio.client import _PACKED, connect
from tests.servers import RedisServer
from tests.support.replies import RawEntries

args_st = st.lists(
    st.text(max_size=20)
    | st.binary(max_size=20)
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=30,
)


@given(args_st)
def test_hiredis_packing_matches_redis_py(args: list[Any]) -> None:
    args = ["XADD", *args]
    assert hiredis.pack_command(tuple(args)) == b"".join(Connection().pack_command(*args))
    assert _PACKED[Connection]().pack_command(*args) == [hiredis.pack_command(tuple(args))]


def test_multi_word_command_names_still_split() -> None:
    packed = b"".join(_PACKED[Connection]().pack_command("XGROUP CREATE", "s", "g", "0"))
    assert packed.startswith(b"*5\r\n$6\r\nXGROUP\r\n$6\r\nCREATE\r\n")


@pytest.mark.integration
async def test_client_round_trip_and_close(redis_server: RedisServer) -> None:
    client = connect(RedisSettings(url=redis_server.url), name="t")
    await client.xadd("t:s", {"a": 1.5, "b": "x"})
    ((_, fields),) = cast(RawEntries, await client.xrange("t:s"))
    assert fields == {b"a": b"1.5", b"b": b"x"}
    await client.xgroup_create("t:s", "g", id="0")
    await client.delete("t:s")
    await client.aclose()
