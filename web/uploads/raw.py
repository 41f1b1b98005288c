"""A file sent as the whole request body (not multipart), as a stream of chunks.

``POST /api/uploads?filename=menu.png`` with ``Content-Type: image/png`` and the
file's bytes as the body: what ``curl --data-binary @menu.png``, ``fetch(url,
{body: file})`` and most integrations send. There is no multipart framing to
parse, so the body's pieces go to the store as aiohttp received them.

The checks that need no body come first: a declared Content-Length over the
limit is a 413 and a Content-Type outside the allowlist a 415 before a byte is
read; an empty body is a 400.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.multipart import content_disposition_filename, parse_content_disposition

from config.settings import UploadSettings
from web.http.problems import Problem
from web.uploads.multipart import Truncated, clean_filename, too_large

_BODY_ERRORS = (ValueError, HttpProcessingError, asyncio.IncompleteReadError, ConnectionError)


@dataclass
class RawBody:
    filename: str
    content_type: str
    request: web.Request
    first: bytes

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body's pieces as they arrived; one that ends early is ``Truncated``."""
        yield self.first
        content = self.request.content
        try:
            while True:
                piece, _ = await content.readchunk()
                if piece:
                    yield piece
                elif content.at_eof():
                    return
        except _BODY_ERRORS as exc:
            raise Truncated(f"the body ended early: {exc}") from None


def _header_filename(request: web.Request) -> str | None:
    header = request.headers.get("Content-Disposition")
    if not header:
        return None
    _, params = parse_content_disposition(header)
    return content_disposition_filename(params, "filename")


async def raw_body(request: web.Request, s: UploadSettings, filename: str | None) -> RawBody:
    ctype = request.content_type  # without parameters, lower case; none sent: octet-stream
    if ctype not in s.types:
        raise Problem(
            415,
            "unsupported_media_type",
            f"files of type {ctype!r} are not accepted (uploads.types): send the file's "
            "type as Content-Type, or a multipart/form-data form",
            extra={"allowed": list(s.types)},
        )
    length = request.content_length
    if length is not None and length > s.max_bytes:
        raise too_large(s.max_bytes)
    # Let aiohttp buffer a chunk's worth before it pauses the socket: fewer, larger pieces.
    request.content.set_read_chunk_size(s.chunk_bytes)
    first = b""
    if request.body_exists:
        try:
            first = await request.content.readany()
        except _BODY_ERRORS as exc:
            raise Truncated(f"the body ended early: {exc}") from None
    if not first:
        raise Problem(400, "empty_upload", "the request has no body: send the file's bytes")
    name = clean_filename(filename or _header_filename(request))
    return RawBody(name, ctype, request, first)
