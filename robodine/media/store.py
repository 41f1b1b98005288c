"""What every media backend offers, and ``open_store`` to pick one from the settings.

A blob is written once from a stream of chunks and named by its SHA-256
(``sha256/ab/abcdef…``): the name is only known at the end, so a backend
writes to a temporary name first and moves the finished blob into place.
Nothing is visible under its final name before it is whole, and the same
content written twice is one blob. A write over ``max_bytes`` stops at once
with ``TooLarge`` and leaves nothing behind.
"""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from config.settings import MediaSettings


class StoreError(Exception):
    """A media store could not do what was asked; the message says why."""


class StoreFull(StoreError):
    """No space left (disk full, quota)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or refused the request."""


class TooLarge(StoreError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"larger than {limit} bytes")
        self.limit = limit


@dataclass(frozen=True)
class Blob:
    key: str  # where the store keeps it: sha256/ab/<hex>
    sha256: str
    size: int


def blob_key(sha256: str) -> str:
    return f"sha256/{sha256[:2]}/{sha256}"


class Hasher:
    """SHA-256 and size of what passes through, with the size limit enforced."""

    def __init__(self, max_bytes: int | None) -> None:
        self.sha = hashlib.sha256()
        self.size = 0
        self.max_bytes = max_bytes

    def count(self, n: int) -> None:
        """``n`` more bytes; over the limit: ``TooLarge``, before they are hashed or stored."""
        self.size += n
        if self.max_bytes is not None and self.size > self.max_bytes:
            raise TooLarge(self.max_bytes)

    def update(self, chunk: bytes) -> None:
        self.count(len(chunk))
        self.sha.update(chunk)

    def blob(self) -> Blob:
        digest = self.sha.hexdigest()
        return Blob(blob_key(digest), digest, self.size)


class MediaStore(ABC):
    """A content-addressed blob store. Keys come from ``put``; callers never invent them."""

    name: str  # "local" or "s3"

    @abstractmethod
    async def put(self, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> Blob:
        """Write the chunks as one blob; atomic (whole or absent) and durable on return."""

    @abstractmethod
    async def size(self, key: str) -> int | None:
        """The blob's size in bytes, or None when there is no such blob."""

    @abstractmethod
    def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """Bytes ``start`` to ``end`` (exclusive; None: to the end) as chunks."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Remove the blob (no error when it is already gone)."""

    def local_path(self, key: str) -> Path | None:
        """The blob's file when the store is a local directory (served with sendfile)."""
        return None

    async def presigned_url(
        self, key: str, *, content_type: str, filename: str, expires_s: int
    ) -> str | None:
        """A URL a browser can GET the blob from directly, or None (served by us)."""
        return None

    async def check(self) -> None:
        """Raise StoreUnavailable when the store cannot be used (at start, for health)."""
        return

    async def close(self) -> None:
        """Release connections."""
        return


async def open_store(settings: MediaSettings) -> MediaStore:
    """The backend ``[media] url`` names, ready to use."""
    if settings.url.startswith("s3://"):
        from robodine.media.s3 import S3Store

        store: MediaStore = await S3Store.open(settings)
    else:
        from robodine.media.local import LocalStore

        store = LocalStore(settings.url.removeprefix("file://"))
    return store
