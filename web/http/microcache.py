"""One encoded answer shared by every request for a short, stated time: for polled GETs.

A polled list (GET /api/robots) cost a Redis pipeline, a SQL query and an
encode per request, to produce the same bytes again and again: the REST tier
ran at a small fraction of a bare aiohttp server (docs/performance.md). ``MicroCache``
keeps the last encoded body, with a weak ETag of its content, for
``max_age`` seconds counted from when its read *started*: an answer never
reflects the sources as they were more than ``max_age`` before the request
arrived. One read runs at a time, started in the background once the body
is half that age; requests that find it expired (idle a while, or the read
failed) wait for that read rather than starting their own. ``invalidate()``
makes the next request read afresh, so this process's own writes show at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
import zlib
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web
from multidict import CIMultiDict


class Encoded:
    """A JSON body, its weak ETag, when its read started, and its gzip form once asked for;
    the answer's headers made once per entry, not per request."""

    __slots__ = ("_gzipped", "body", "etag", "gzip_headers", "headers", "read_at", "tag_headers")

    def __init__(self, body: bytes, read_at: float) -> None:
        self.body = body
        self.etag = f'W/"{hashlib.blake2b(body, digest_size=12).hexdigest()}"'
        self.read_at = read_at
        self._gzipped: bytes | None = None
        # web.Response copies the headers it is given: these are templates, never sent.
        self.tag_headers = CIMultiDict({hdrs.ETAG: self.etag, hdrs.VARY: "Accept-Encoding"})
        self.headers = CIMultiDict(self.tag_headers)
        self.headers[hdrs.CONTENT_TYPE] = "application/json"
        self.gzip_headers = CIMultiDict(self.headers)
        self.gzip_headers[hdrs.CONTENT_ENCODING] = "gzip"

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            z = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)  # gzip framing
            self._gzipped = z.compress(self.body) + z.flush()
        return self._gzipped


class MicroCache:
    def __init__(
        self,
        load: Callable[[], Awaitable[bytes]],
        max_age: float,
        clock: Callable[[], float] = time.monotonic,
        *,
        gzip_min_bytes: int = 1024,
    ) -> None:
        self._load = load
        self.max_age = max_age
        self.gzip_min_bytes = gzip_min_bytes  # for respond(): smaller bodies go as they are
        self._clock = clock
        self._entry: Encoded | None = None
        self._reading: asyncio.Future[Encoded] | None = None
        self._generation = 0  # bumped by invalidate(): a read begun before it is not kept

    def fresh(self) -> Encoded | None:
        """The entry if it is within ``max_age``: the hot path, without a coroutine.

        Past half its age the next read starts in the background, so under steady
        load requests are answered from memory and never wait for a read.
        """
        entry = self._entry
        if entry is None:
            return None
        age = self._clock() - entry.read_at
        if age >= self.max_age:
            return None
        if age >= self.max_age / 2 and self._reading is None:
            self._start_read().add_done_callback(_retrieve)  # its failure: the next get's
        return entry

    async def get(self) -> Encoded:
        entry = self.fresh()
        if entry is not None:
            return entry
        # shielded: one waiter giving up must not cancel the read the others wait for
        return await asyncio.shield(self._reading or self._start_read())

    def _start_read(self) -> asyncio.Future[Encoded]:
        self._reading = asyncio.ensure_future(self._read(self._generation))
        return self._reading

    def invalidate(self) -> None:
        self._generation += 1
        self._entry = None
        self._reading = None

    async def _read(self, generation: int) -> Encoded:
        started = self._clock()
        try:
            entry = Encoded(await self._load(), started)
        finally:
            if generation == self._generation:
                self._reading = None
        if generation == self._generation:
            self._entry = entry
        return entry


def _retrieve(read: asyncio.Future[Encoded]) -> None:
    """Mark a background read's failure as seen (no "never retrieved" warning)."""
    if not read.cancelled():
        read.exception()


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 13.1.2: weak comparison against each listed tag, or ``*``."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    mine = etag.removeprefix("W/")
    return any(t.strip().removeprefix("W/") == mine for t in if_none_match.split(","))


def respond(request: web.Request, entry: Encoded, gzip_min_bytes: int) -> web.Response:
    """200 with the body (gzipped once per entry for clients that take it), or 304.

    Cache-Control stays the API's ``no-store`` (web/http/edge.py): the ETag is
    for clients that keep the last answer themselves and send If-None-Match.
    """
    asked = request.headers
    tags = asked.get(hdrs.IF_NONE_MATCH)
    if tags is not None and etag_matches(tags, entry.etag):
        return web.Response(status=304, headers=entry.tag_headers)
    if len(entry.body) >= gzip_min_bytes and "gzip" in asked.get(hdrs.ACCEPT_ENCODING, ""):
        return web.Response(body=entry.gzipped(), headers=entry.gzip_headers)
    return web.Response(body=entry.body, headers=entry.headers)
