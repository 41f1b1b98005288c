"""A lean Redis connection: packed commands out, replies in (gateway flushes, hub reads).

redis-py's pipeline round trip has a fixed CPU cost (a Pipeline object, a task
per write under ``asyncio.wait_for``, a timeout per reply). Under a steady
trickle of TCP telemetry the writer makes thousands of small flushes a second,
so that overhead, not the data, was most of the gateway's CPU. Here a flush is
one ``write`` of commands packed by hiredis and one future resolved when hiredis
has parsed all their replies, a fraction of the cost (docs/performance.md).

Connecting follows the URL as redis-py reads it (``parse_url``: host or unix
path, user, password, db, TLS options), then AUTH, SELECT and CLIENT SETNAME,
RESP2 like the redis-py clients of ``robodine.redisio.client`` (which opens
these too, with the reply timeout of their kind). Errors are redis-py's, so
the writer's outage handling treats both clients alike: a lost or silent
connection raises ConnectionError or TimeoutError and the connection is
closed (open a new one); an error reply raises ResponseError after every reply
of the batch is read, so the connection stays usable. A batch cancelled while
its replies are owed closes the connection too: a later batch would take them
for its own.

The web tier's hub reads its streams through one of these per reader (``encoding``
set: replies as str, a byte that is not UTF-8 replaced rather than failing the
read forever): an XREAD of a few entries costs less CPU than through redis-py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import hiredis
from redis.asyncio.connection import RedisSSLContext, SSLConnection, parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["RespConnection"]

Command = tuple[Any, ...]


class RespConnection(asyncio.Protocol):
    def __init__(self, reply_timeout: float, *, encoding: str | None = None) -> None:
        self.reply_timeout = reply_timeout
        self._reader = (
            hiredis.Reader(replyError=ResponseError)
            if encoding is None
            else hiredis.Reader(replyError=ResponseError, encoding=encoding, errors="replace")
        )
        self._transport: asyncio.Transport | None = None
        self._waiter: asyncio.Future[list[Any]] | None = None
        self._replies: list[Any] = []
        self._expected = 0
        self._lost: Exception | None = None

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        name: str,
        timeout: float,
        reply_timeout: float,
        encoding: str | None = None,
    ) -> RespConnection:
        """Connect and authenticate within ``timeout`` seconds."""
        kw = parse_url(url)
        loop = asyncio.get_running_loop()
        conn = cls(reply_timeout, encoding=encoding)
        try:
            async with asyncio.timeout(timeout):
                if "path" in kw:
                    await loop.create_unix_connection(lambda: conn, kw["path"])
                else:
                    ssl = _ssl_context(kw) if kw.get("connection_class") is SSLConnection else None
                    await loop.create_connection(
                        lambda: conn, kw.get("host", "localhost"), kw.get("port", 6379), ssl=ssl
                    )
                setup: list[Command] = []
                password, user = kw.get("password"), kw.get("username")
                if password is not None:
                    setup.append(("AUTH", user, password) if user else ("AUTH", password))
                if kw.get("db"):
                    setup.append(("SELECT", kw["db"]))
                setup.append(("CLIENT", "SETNAME", name))
                await conn.execute(setup)
        except TimeoutError:
            conn.close()
            raise RedisTimeoutError(f"connecting to Redis took over {timeout}s") from None
        except OSError as exc:
            conn.close()
            raise RedisConnectionError(f"connecting to Redis: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return conn

    async def execute(self, commands: Sequence[Command]) -> list[Any]:
        """Send the commands in one write; their replies, in order.

        Raises the first error reply as ResponseError once all replies are in.
        """
        if not self.usable:
            raise RedisConnectionError(f"Redis connection closed: {self._lost}")
        if self._waiter is not None:
            raise RuntimeError("one batch at a time")
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[list[Any]] = loop.create_future()
        self._waiter = waiter
        self._replies, self._expected = [], len(commands)
        assert self._transport is not None  # usable
        self._transport.write(b"".join(hiredis.pack_command(c) for c in commands))
        timer = loop.call_later(self.reply_timeout, self._time_out)
        try:
            replies = await waiter
        except asyncio.CancelledError:
            if self._expected:
                self.close()  # replies are owed: nobody can tell them from the next batch's
            raise
        finally:
            timer.cancel()
            self._waiter = None
        for reply in replies:
            if isinstance(reply, ResponseError):
                raise reply
        return replies

    @property
    def usable(self) -> bool:
        return self._transport is not None and not self._transport.is_closing()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    # ---- asyncio.Protocol ----------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        try:
            while self._expected and (reply := self._reader.gets()) is not False:
                self._replies.append(reply)
                self._expected -= 1
        except hiredis.ProtocolError as exc:
            self._fail(RedisConnectionError(f"Redis protocol error: {exc}"))
            return
        if not self._expected and self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(self._replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = exc or ConnectionError("closed by the server")
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(RedisConnectionError(f"Redis connection lost: {self._lost}"))

    def _time_out(self) -> None:
        self._fail(RedisTimeoutError(f"no reply from Redis in {self.reply_timeout}s"))

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.close()  # replies may be half read: this connection is done


def _ssl_context(kw: Mapping[str, Any]) -> Any:
    """The TLS context redis-py would build from the URL's ``ssl_*`` options."""
    options = {k.removeprefix("ssl_"): v for k, v in kw.items() if k.startswith("ssl_")}
    return RedisSSLContext(**options).get()
