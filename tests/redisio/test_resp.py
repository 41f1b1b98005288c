"""The lean Redis connection (gateway flushes, hub reads) against a real redis-server."""

from __future__ import annotations

import pytest
import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from robodine.redisio.resp import RespConnection
from tests.servers import RedisServer, free_port

pytestmark = pytest.mark.integration


async def _open(url: str, reply_timeout: float = 5.0) -> RespConnection:
    return await RespConnection.open(url, name="gw:flush", timeout=2.0, reply_timeout=reply_timeout)


async def test_replies_come_back_in_order_and_an_error_leaves_it_usable(
    redis_private: RedisServer,
) -> None:
    conn = await _open(redis_private.url)
    replies = await conn.execute([("SET", "k", 1.5), ("INCR", "n"), ("GET", "k"), ("INCR", "n")])
    assert replies == [b"OK", 1, b"1.5", 2]
    with pytest.raises(ResponseError, match="not an integer"):
        await conn.execute([("INCR", "n"), ("INCR", "k"), ("INCR", "n")])
    assert await conn.execute([("GET", "n")]) == [b"4"]  # every reply of the batch was read
    assert await conn.execute([("CLIENT", "GETNAME")]) == [b"gw:flush"]
    conn.close()


async def test_user_password_and_db_come_from_the_url(redis_private: RedisServer) -> None:
    admin = aioredis.Redis.from_url(redis_private.url)
    await admin.acl_setuser("gw", enabled=True, passwords=["+s3cret"], keys="*", commands=["+@all"])
    conn = await _open(f"redis://gw:s3cret@127.0.0.1:{redis_private.port}/3")
    await conn.execute([("SET", "where", "db3")])
    conn.close()
    selected = await admin.execute_command("SELECT", 3)  # type: ignore[no-untyped-call]  # untyped in redis-py; no select()
    assert selected and await admin.get("where") == b"db3"
    with pytest.raises(ResponseError):
        await _open(f"redis://gw:wrong@127.0.0.1:{redis_private.port}/0")
    await admin.aclose()


async def test_no_server_lost_server_and_silent_server_are_outage_errors(
    redis_private: RedisServer,
) -> None:
    with pytest.raises(RedisConnectionError):
        await _open(f"redis://127.0.0.1:{free_port()}/0")
    conn = await _open(redis_private.url, reply_timeout=0.3)
    with pytest.raises(RedisTimeoutError):
        await conn.execute([("BLPOP", "nothing", 1)])
    assert not conn.usable  # half-read replies: closed, the writer opens a new one
    conn = await _open(redis_private.url)
    redis_private.kill()
    with pytest.raises(RedisConnectionError):
        await conn.execute([("PING",)])
    assert not conn.usable


async def test_with_an_encoding_replies_are_str_and_a_bad_byte_is_replaced(
    redis_private: RedisServer,
) -> None:
    conn = await RespConnection.open(
        redis_private.url, name="web:hub", timeout=2.0, reply_timeout=5.0, encoding="utf-8"
    )
    await conn.execute([("XADD", "s", "1-1", "robot", "서빙-1", "bad", b"\xff\xfe")])
    ((stream, entries),) = (await conn.execute([("XREAD", "STREAMS", "s", "0")]))[0]
    assert stream == "s"
    assert entries == [["1-1", ["robot", "서빙-1", "bad", "\ufffd\ufffd"]]]
    assert (await conn.execute([("XREAD", "COUNT", 1, "STREAMS", "s", "1-1")])) == [None]
    conn.close()


async def test_a_cancelled_read_closes_the_connection_its_reply_is_owed_on(
    redis_private: RedisServer,
) -> None:
    import asyncio

    conn = await _open(redis_private.url)
    read = asyncio.create_task(conn.execute([("XREAD", "BLOCK", 5000, "STREAMS", "s", "$")]))
    await asyncio.sleep(0.05)
    read.cancel()
    with pytest.raises(asyncio.CancelledError):
        await read
    assert not conn.usable  # else the late XREAD reply would answer the next command
    with pytest.raises(RedisConnectionError):
        await conn.execute([("PING",)])
