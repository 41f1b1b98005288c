"""The one file part of a multipart/form-data upload, as a stream of chunks.

aiohttp's MultipartReader reads the body as it arrives (its buffer is
bounded and the socket pauses when it is full), so nothing holds the whole
file. The checks that need no body come first: a declared Content-Length over
the limit is a 413 before a byte is read, a type outside the allowlist a 415
as soon as the part's headers are in.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import PurePosixPath, PureWindowsPath
from urllib.parse import unquote

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from config.settings import UploadSettings
from web.http.problems import Problem

# Room for the multipart framing (boundaries, part headers) around the file itself.
FRAMING_BYTES = 64 * 1024


class Truncated(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(400, "truncated_upload", detail)


def too_large(limit: int) -> Problem:
    return Problem(
        413,
        "upload_too_large",
        f"the file is larger than the limit of {limit} bytes (uploads.max_bytes)",
        extra={"limit": limit},
    )


@dataclass
class FilePart:
    filename: str
    content_type: str
    part: BodyPartReader
    chunk_bytes: int

    async def chunks(self) -> AsyncIterator[bytes]:
        """The part's bytes; a body that ends before the closing boundary is ``Truncated``."""
        try:
            while True:
                chunk = await self.part.read_chunk(self.chunk_bytes)
                if not chunk:
                    break
                yield chunk
        except (
            ValueError,
            HttpProcessingError,
            asyncio.IncompleteReadError,
            ConnectionError,
        ) as exc:
            raise Truncated(f"the multipart body ended early: {exc}") from None
        if not self.part.at_eof():
            raise Truncated("the multipart body ended before the part's closing boundary")


def clean_filename(raw: str | None) -> str:
    # Some clients percent-encode the name (RFC 7578 4.2 allows it): decode, then drop dirs.
    name = PureWindowsPath(PurePosixPath(unquote(raw or "")).name).name
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    return name[:255] or "upload"


async def file_part(request: web.Request, s: UploadSettings) -> FilePart:
    length = request.content_length
    if length is not None and length > s.max_bytes + FRAMING_BYTES:
        raise too_large(s.max_bytes)
    try:
        reader = await request.multipart()
        part = await reader.next()
        while part is not None and (not isinstance(part, BodyPartReader) or part.name != "file"):
            if isinstance(part, BodyPartReader):
                await part.release()  # small form fields we do not use
            part = await reader.next()
    except (ValueError, HttpProcessingError, asyncio.IncompleteReadError) as exc:
        raise Truncated(f"not a readable multipart body: {exc}") from None
    if part is None:
        raise Problem(422, "invalid_field", "the form has no part named 'file'", field="file")
    ctype = part.headers.get("Content-Type") or "application/octet-stream"
    ctype = ctype.split(";", 1)[0].strip().lower()
    if ctype not in s.types:
        raise Problem(
            415,
            "unsupported_media_type",
            f"files of type {ctype!r} are not accepted (uploads.types)",
            field="file",
            extra={"allowed": list(s.types)},
        )
    return FilePart(clean_filename(part.filename), ctype, part, s.chunk_bytes)
