"""The local-directory media store: atomic, content-addressed, fsynced.

A write goes to ``<root>/.tmp/<random>``, is fsynced, then renamed to
``<root>/sha256/ab/<hex>`` and the directory fsynced: after ``put`` returns
the blob survives a power cut, and before it nothing exists under the final
name. Temporary files left by a crash are removed at start.

Two threads per ``put`` take the body in order, gathered a megabyte at a time
(the pieces as they were received, in a list: no copy joins them), at most
``QUEUE_CHUNKS`` of these in hand: one hashes them, the other writes them with
one ``writev``. The event loop counts the bytes against the limit, hands each
gathered megabyte to both and goes back to receiving the next, waiting only while
``QUEUE_CHUNKS`` are not yet both hashed and written. SHA-256 and the write each
release the GIL, so receiving, hashing and writing run side by side: one thread
doing both calls would do the hash and the write one after the other, and wait
for the GIL again between them while the loop holds it.

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
WRITE_BYTES = 1024 * 1024  # smaller chunks are gathered up to this before they are queued
GATHER_MAX = 64  # chunks in one gathered piece, at most (one writev: far below IOV_MAX)
QUEUE_CHUNKS = 8  # gathered pieces handed to the threads and not both hashed and written, at most
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
            async for pieces in gathered(chunks, WRITE_BYTES):
                await writer.put(pieces)
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


async def gathered(chunks: AsyncIterable[bytes], size: int) -> AsyncIterator[list[bytes]]:
    """The chunks in lists of at least ``size`` bytes (or ``GATHER_MAX`` chunks; the last:
    what is left).

    A raw request body arrives in pieces of 64-256 KiB: gathered, each megabyte costs the
    threads one hand-off and the disk one ``writev`` instead of four, and no byte is
    copied to join them.
    """
    pending: list[bytes] = []
    held = 0
    async for chunk in chunks:
        if not chunk:
            continue
        pending.append(chunk)
        held += len(chunk)
        if held >= size or len(pending) >= GATHER_MAX:
            yield pending
            pending, held = [], 0
    if pending:
        yield pending


_END: Any = object()  # in the queue: no more chunks


class _Writer:
    """One ``put``'s threads: the writer opens the temporary file, writes each queued
    chunk, then fsyncs and publishes it (or, when told not to, removes it) once the
    hasher has hashed the same chunks, and reports back.

    The event loop side ``put``s chunks (waiting only while ``QUEUE_CHUNKS`` are not
    both hashed and written) and ``finish``es; the first error (``TooLarge``, at once on
    the loop; a disk error) stops the upload, is raised by the next ``put`` and by
    ``result``, and the threads keep taking chunks (dropping them) until they are told to
    finish, so the loop never waits for room that will not come.
    """

    def __init__(self, tmp: Path, hasher: Hasher, final: Callable[[str], Path]) -> None:
        self.loop = asyncio.get_running_loop()
        self.tmp = tmp
        self.hasher = hasher
        self.final = final  # key -> path
        self.room = asyncio.Semaphore(QUEUE_CHUNKS)
        self.to_write: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.to_hash: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.progress = [0, 0]  # chunks written, chunks hashed (kept on the loop)
        self.released = 0  # chunks both threads are done with, their room given back
        self.error: BaseException | None = None
        self.publish = False
        self.done: asyncio.Future[Blob] = self.loop.create_future()
        self.hashing = threading.Thread(target=self._hash, name="media-hash", daemon=True)
        self.thread = threading.Thread(target=self._run, name="media-writer", daemon=True)
        self.hashing.start()
        self.thread.start()

    async def put(self, pieces: list[bytes]) -> None:
        self.hasher.count(sum(map(len, pieces)))  # TooLarge before a byte reaches a thread
        await self.room.acquire()
        if self.error is not None:
            raise _store_error(self.error) if isinstance(self.error, OSError) else self.error
        self.to_hash.put(pieces)
        self.to_write.put(pieces)

    def finish(self, *, publish: bool) -> None:
        self.publish = publish
        self.to_hash.put(_END)
        self.to_write.put(_END)

    def _advance(self, which: int) -> None:
        """On the loop: one more chunk done by the writer (0) or the hasher (1)."""
        self.progress[which] += 1
        while min(self.progress) > self.released:
            self.released += 1
            self.room.release()

    async def wait_quietly(self) -> None:
        """Until the threads have closed and removed the file; a cancel meanwhile is
        raised after that (the file must not be removed under the writer)."""
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

    def _hash(self) -> None:
        sha = self.hasher.sha
        while (pieces := self.to_hash.get()) is not _END:
            if self.error is None:
                try:
                    for piece in pieces:
                        sha.update(piece)
                except BaseException as exc:  # reported through the writer, never lost
                    self.error = exc
            self.loop.call_soon_threadsafe(self._advance, 1)

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
                out = _File(f)
            except OSError as exc:
                self.error = exc
            while (pieces := self.to_write.get()) is not _END:
                if self.error is None and out is not None:
                    try:
                        out.write(pieces)
                    except BaseException as exc:
                        self.error = exc
                self.loop.call_soon_threadsafe(self._advance, 0)
            self.hashing.join()  # every chunk hashed: the digest is whole
            if self.error is not None:
                raise self.error
            if not self.publish:
                raise StoreUnavailable("the upload ended before its last chunk")
            blob = self.hasher.blob()
            final = self.final(blob.key)
            if final.exists():  # a synced copy is stored already: this one is only removed
                f.close()
                self.tmp.unlink()
                _fsync_dir(final.parent)  # its name too, whoever renamed it
            else:
                os.fsync(f.fileno())
                f.close()
                _publish(self.tmp, final)
            published = True
            return blob
        finally:
            if f is not None:
                f.close()
            if not published:
                self.tmp.unlink(missing_ok=True)


class _File:
    """The temporary file being written (in the writer thread): write, then writeback."""

    def __init__(self, f: Any) -> None:
        self.f = f
        self.end = 0  # bytes written
        self.synced = 0  # bytes before this offset are handed to the kernel's writeback

    def write(self, pieces: list[bytes]) -> None:
        fd = self.f.fileno()
        size = sum(map(len, pieces))
        n = os.writev(fd, pieces)
        if n < size:  # a short write (a signal, a full disk's last bytes): the rest, in order
            rest = memoryview(b"".join(pieces))[n:]
            while rest:
                rest = rest[os.write(fd, rest) :]
        self.end += size
        if self.end - self.synced >= WRITEBACK_BYTES and _FADVISE is not None:
            _FADVISE(fd, self.synced, self.end - self.synced, os.POSIX_FADV_DONTNEED)
            self.synced = self.end


_FADVISE = getattr(os, "posix_fadvise", None)  # not on macOS: the final fsync does it all


def _publish(tmp: Path, final: Path) -> None:
    created = not final.parent.exists()
    final.parent.mkdir(parents=True, exist_ok=True)
    os.replace(tmp, final)
    _fsync_dir(final.parent)
    if created:  # the new directory's own entry, too
        _fsync_dir(final.parent.parent)
