"""The local-directory media store: atomic, content-addressed, fsynced.

A write goes to ``<root>/.tmp/<random>`` (hashing and writing in a worker
thread, a chunk at a time, so the event loop never waits on the disk), is
fsynced, then renamed to ``<root>/sha256/ab/<hex>`` and the directory fsynced:
after ``put`` returns the blob survives a power cut, and before it nothing
exists under the final name. Temporary files left by a crash are removed at
start.

Every ``WRITEBACK_BYTES`` written are handed to the kernel to write to disk at
once (``posix_fadvise`` DONTNEED, which on Linux starts the writeback of the
range's dirty pages and lets them leave the page cache when clean: an upload
is not read back soon), so the disk works while the rest arrives and the final
fsync waits for the last few MiB instead of the whole file.
"""

from __future__ import annotations

import asyncio
import errno
import os
import secrets
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from robodine.media.store import Blob, Hasher, MediaStore, StoreFull, StoreUnavailable

READ_CHUNK = 1024 * 1024
WRITEBACK_BYTES = 4 * 1024 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _store_error(exc: OSError) -> Exception:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreFull(f"media store full: {exc.strerror}")
    return StoreUnavailable(f"media store: {exc.strerror or exc}")


class LocalStore(MediaStore):
    name = "local"

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tmp = self.root / ".tmp"
        try:
            self.tmp.mkdir(parents=True, exist_ok=True)
            for leftover in self.tmp.iterdir():  # a crash mid-write leaves only these
                leftover.unlink(missing_ok=True)
        except OSError as exc:
            raise _store_error(exc) from exc

    def path(self, key: str) -> Path:
        if ".." in key.split("/") or key.startswith("/"):
            raise ValueError(f"not a store key: {key!r}")
        return self.root / key

    async def put(self, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> Blob:
        tmp = self.tmp / secrets.token_hex(16)
        hasher = Hasher(max_bytes)
        f = await _fs(open, tmp, "xb", buffering=0)
        done = False
        out = _File(f, hasher)
        try:
            try:
                await _write_behind(chunks, lambda chunk: _fs(out.write, chunk))
                await _fs(os.fsync, f.fileno())
            finally:
                f.close()
            blob = hasher.blob()
            await _fs(_publish, tmp, self.path(blob.key))
            done = True
            return blob
        finally:
            if not done:
                tmp.unlink(missing_ok=True)

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    async def size(self, key: str) -> int | None:
        try:
            return (await asyncio.to_thread(self.path(key).stat)).st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise _store_error(exc) from exc

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        try:
            f = await asyncio.to_thread(open, self.path(key), "rb", buffering=0)
        except OSError as exc:
            raise _store_error(exc) from exc
        try:
            if start:
                f.seek(start)
            left = None if end is None else end - start
            while left is None or left > 0:
                n = READ_CHUNK if left is None else min(READ_CHUNK, left)
                chunk = await asyncio.to_thread(f.read, n)
                if not chunk:
                    break
                if left is not None:
                    left -= len(chunk)
                yield chunk
        finally:
            f.close()

    async def delete(self, key: str) -> None:
        try:
            await asyncio.to_thread(self.path(key).unlink, missing_ok=True)
        except OSError as exc:
            raise _store_error(exc) from exc

    async def check(self) -> None:
        if not os.access(self.tmp, os.W_OK):
            raise StoreUnavailable(f"media store: {self.root} is not writable")


async def _fs(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """A filesystem call in a worker thread; its OSError as the store's error."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except OSError as exc:
        raise _store_error(exc) from exc


async def _write_behind(
    chunks: AsyncIterable[bytes], write: Callable[[bytes], Awaitable[None]]
) -> None:
    """Write each chunk in order while the next one is read, so the socket and the
    disk (and the hash, which releases the GIL) overlap instead of taking turns.

    One write at most is in flight: the hash sees the chunks in order and memory
    holds two chunks. The source's own errors pass through as they are, after the
    write in flight has finished (the file must not be closed under its thread).
    """
    pending: asyncio.Future[None] | None = None
    try:
        async for chunk in chunks:
            if pending is not None:
                await asyncio.shield(pending)  # a cancelled upload still lets it finish
            pending = asyncio.ensure_future(write(chunk))
        if pending is not None:
            await asyncio.shield(pending)
    finally:
        if pending is not None:
            if not pending.done():
                await asyncio.wait({pending})
            if not pending.cancelled():
                pending.exception()  # retrieved: the error that ended the upload wins


class _File:
    """The temporary file being written (in a worker thread): hash, write, start writeback."""

    def __init__(self, f: Any, hasher: Hasher) -> None:
        self.f = f
        self.hasher = hasher
        self.synced = 0  # bytes before this offset are handed to the kernel's writeback

    def write(self, chunk: bytes) -> None:
        self.hasher.update(chunk)  # TooLarge before the bytes reach the disk
        view = memoryview(chunk)
        while view:
            n = self.f.write(view)
            view = view[n:]
        end = self.hasher.size
        if end - self.synced >= WRITEBACK_BYTES and _FADVISE is not None:
            _FADVISE(self.f.fileno(), self.synced, end - self.synced, os.POSIX_FADV_DONTNEED)
            self.synced = end


_FADVISE = getattr(os, "posix_fadvise", None)  # not on macOS: the final fsync does it all


def _publish(tmp: Path, final: Path) -> None:
    if final.exists():  # the same content is stored already
        tmp.unlink()
        return
    created = not final.parent.exists()
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    if created:  # the new directory's own entry, too
        _fsync_dir(final.parent.parent)
