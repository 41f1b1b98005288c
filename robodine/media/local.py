"""The local-directory media store: atomic, content-addressed, fsynced.

A write goes to ``<root>/.tmp/<random>``, is fsynced, then renamed to
``<root>/sha256/ab/<hex>`` and the directory fsynced: after ``put`` returns
the blob survives a power cut, and before it nothing exists under the final
name. Temporary files left by a crash are removed at start.

One writer thread per ``put`` hashes and writes the chunks in order, a
megabyte at a time, from a queue of at most ``QUEUE_CHUNKS`` of them: the event
loop hands a chunk over and goes back to receiving the next, waiting only when
the queue is full, so receiving, hashing (which releases the GIL) and writing
run side by side on two cores instead of taking turns, and no chunk waits for
a thread hand-off to come back before the next one is given.

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
import queue
import secrets
import threading
from collections.abc import AsyncIterable, AsyncIterator, Callable
from pathlib import Path
from typing import Any

from robodine.media.store import Blob, Hasher, MediaStore, StoreFull, StoreUnavailable

READ_CHUNK = 1024 * 1024
WRITE_BYTES = 1024 * 1024  # smaller chunks are joined up to this before they are queued
QUEUE_CHUNKS = 4  # chunks handed to the writer thread and not written yet, at most
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
        writer = _Writer(self.tmp / secrets.token_hex(16), Hasher(max_bytes), self.path)
        finished = False
        try:
            async for chunk in batched(chunks, WRITE_BYTES):
                await writer.put(chunk)
            finished = True
        finally:
            # The thread owns the file: it closes it (and removes it unless the blob was
            # published) before ``done`` resolves, whether the source ended, failed or the
            # upload was cancelled.
            writer.finish(publish=finished)
            if not finished:
                await writer.wait_quietly()
        return await writer.result()

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


async def batched(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """The chunks joined into pieces of at least ``size`` bytes (the last: what is left).

    A raw request body arrives in pieces of 64-256 KiB: joined (one memory copy), each
    costs the writer thread one wake-up and one hash and write call instead of four.
    """
    pending: list[bytes] = []
    held = 0
    async for chunk in chunks:
        if not pending and len(chunk) >= size:
            yield chunk
            continue
        pending.append(chunk)
        held += len(chunk)
        if held >= size:
            yield pending[0] if len(pending) == 1 else b"".join(pending)
            pending, held = [], 0
    if pending:
        yield pending[0] if len(pending) == 1 else b"".join(pending)


_END: Any = object()  # in the queue: no more chunks


class _Writer:
    """One ``put``'s thread: open the temporary file, hash and write each queued chunk,
    then fsync and publish (or, when told not to, remove the file), and report back.

    The event loop side ``put``s chunks (waiting only while ``QUEUE_CHUNKS`` are queued)
    and ``finish``es; the first error (``TooLarge``, a disk error) stops the writing, is
    raised by the next ``put`` and by ``result``, and the thread keeps taking chunks
    (dropping them) until it is told to finish, so the loop never waits for room that
    will not come.
    """

    def __init__(self, tmp: Path, hasher: Hasher, final: Callable[[str], Path]) -> None:
        self.loop = asyncio.get_running_loop()
        self.tmp = tmp
        self.hasher = hasher
        self.final = final  # key -> path
        self.room = asyncio.Semaphore(QUEUE_CHUNKS)
        self.chunks: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.error: BaseException | None = None
        self.publish = False
        self.done: asyncio.Future[Blob] = self.loop.create_future()
        self.thread = threading.Thread(target=self._run, name="media-writer", daemon=True)
        self.thread.start()

    async def put(self, chunk: bytes) -> None:
        if not chunk:
            return
        await self.room.acquire()
        if self.error is not None:
            raise _store_error(self.error) if isinstance(self.error, OSError) else self.error
        self.chunks.put(chunk)

    def finish(self, *, publish: bool) -> None:
        self.publish = publish
        self.chunks.put(_END)

    async def wait_quietly(self) -> None:
        """Until the thread has closed and removed the file; a cancel meanwhile is raised
        after that (the file must not be removed under the thread)."""
        cancelled = False
        while not self.done.done():
            try:
                await asyncio.wait({self.done})
            except asyncio.CancelledError:
                cancelled = True
        if not self.done.cancelled():
            self.done.exception()  # retrieved: the error that ended the upload wins
        if cancelled:
            raise asyncio.CancelledError

    async def result(self) -> Blob:
        try:
            return await asyncio.shield(self.done)
        except OSError as exc:
            raise _store_error(exc) from exc

    def _run(self) -> None:
        blob: Blob | None = None
        error: BaseException | None = None
        try:
            blob = self._write()
        except BaseException as exc:  # reported to the loop, never lost in the thread
            error = exc
        self.loop.call_soon_threadsafe(self._report, blob, error)

    def _report(self, blob: Blob | None, error: BaseException | None) -> None:
        if error is not None:
            self.done.set_exception(error)
        else:
            assert blob is not None
            self.done.set_result(blob)

    def _write(self) -> Blob:
        f: Any = None
        out: _File | None = None
        published = False
        try:
            try:
                f = open(self.tmp, "xb", buffering=0)  # noqa: SIM115 (closed below)
                out = _File(f, self.hasher)
            except OSError as exc:
                self.error = exc
            while (chunk := self.chunks.get()) is not _END:
                if self.error is None and out is not None:
                    try:
                        out.write(chunk)
                    except BaseException as exc:
                        self.error = exc
                self.loop.call_soon_threadsafe(self.room.release)
            if self.error is not None:
                raise self.error
            if not self.publish:
                raise StoreUnavailable("the upload ended before its last chunk")
            os.fsync(f.fileno())
            f.close()
            blob = self.hasher.blob()
            _publish(self.tmp, self.final(blob.key))
            published = True
            return blob
        finally:
            if f is not None:
                f.close()
            if not published:
                self.tmp.unlink(missing_ok=True)


class _File:
    """The temporary file being written (in the writer thread): hash, write, writeback."""

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
