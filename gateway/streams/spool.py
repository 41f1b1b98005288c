"""A bounded, ordered, on-disk queue of stream entries for Redis outages.

SQLite (stdlib) gives an ordered, crash-safe queue with transactions for
free: rows go in under one commit per batch, come out by rowid, and are
deleted only after Redis accepted them. What is in the spool survives a
gateway restart and is replayed first when Redis is back.

A disk that refuses writes (full, read-only, failing) never stops the
gateway: the spool is then *degraded* (``degraded`` says why) and a batch it
cannot store is lost and returned as such, as when ``max_records`` is reached;
the next batch tries the disk again. Only a path that cannot hold a spool at
all (a directory, a parent that cannot be made, no write permission, a file
that is not a spool) is an error at start (``SpoolError``).

Every method blocks on disk; the writer calls them through
``asyncio.to_thread``, so the event loop never waits on the disk.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import msgspec

__all__ = ["Spool", "SpoolError", "SpoolRecord"]


class SpoolRecord(msgspec.Struct, array_like=True):
    stream: str
    fields: dict[str, str | int | float]
    ack: str | None = None  # rd:commands entry to XACK once this is in Redis


class SpoolError(Exception):
    """The path cannot hold a spool; the message says why (a config problem)."""


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SpoolRecord)
# SQLite's "the disk does not take it now" errors: the spool degrades, the gateway goes on.
_DISK_ERRORS = ("SQLITE_FULL", "SQLITE_IOERR", "SQLITE_READONLY")


class Spool:
    def __init__(self, path: Path, max_records: int) -> None:
        self.path = path
        self.max_records = max_records
        self.degraded: str | None = None  # why the disk refuses events now; None: it takes them
        self._lock = threading.Lock()  # one sqlite connection, used from worker threads
        self._db: sqlite3.Connection | None = None
        self._count = 0
        # Rows up to here went to Redis but could not be deleted (the disk refused even
        # that): skipped until a later delete succeeds; a restart replays them again,
        # and the replay skips what Redis already holds.
        self._gone_through = 0
        self._skipped = 0  # how many rows up to _gone_through are still on disk
        _check_path(path)
        try:
            self._open()
        except sqlite3.Error as exc:
            if not _disk_refused(exc):
                raise SpoolError(f"{str(path)!r} cannot be used as the spool: {exc}") from None
            self.degraded = str(exc)

    def _open(self) -> None:
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, rec BLOB NOT NULL)"
            )
            count = int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
        except BaseException:
            db.close()
            raise
        self._db, self._count, self._gone_through, self._skipped = db, count, 0, 0

    def __len__(self) -> int:
        return self._count

    def append(self, records: list[SpoolRecord]) -> int:
        """Store what fits; return how many did not fit (the caller counts them lost)."""
        with self._lock:
            room = max(0, self.max_records - self._count)
            kept = records[:room]
            if not kept:
                return len(records)
            try:
                if self._db is None:  # degraded since the start: try the disk again
                    self._open()
                    room = max(0, self.max_records - self._count)
                    kept = records[:room]
                assert self._db is not None
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany(
                        "INSERT INTO spool (rec) VALUES (?)", [(_encoder.encode(r),) for r in kept]
                    )
            except sqlite3.Error as exc:  # rolled back: none of them is stored
                self.degraded = str(exc)
                return len(records)
            self.degraded = None
            self._count += len(kept)
            return len(records) - len(kept)

    def peek(self, n: int) -> list[tuple[int, SpoolRecord]]:
        with self._lock:
            if self._db is None:
                return []
            try:
                rows = self._db.execute(
                    "SELECT id, rec FROM spool WHERE id > ? ORDER BY id LIMIT ?",
                    (self._gone_through, n),
                ).fetchall()
            except sqlite3.Error as exc:  # unreadable now: left on disk for the next start
                self.degraded = str(exc)
                self._count = 0
                return []
        return [(int(i), _decoder.decode(b)) for i, b in rows]

    def delete_through(self, last_id: int) -> None:
        """Rows up to ``last_id`` are in Redis: off the spool."""
        with self._lock:
            if self._db is None:
                return
            try:
                with self._db:
                    self._db.execute("BEGIN")
                    deleted = self._db.execute("DELETE FROM spool WHERE id <= ?", (last_id,))
                self._count -= deleted.rowcount - self._skipped
                self._skipped = 0
                self.degraded = None
            except sqlite3.Error as exc:  # in Redis, but still on disk: skip them from now on
                self.degraded = str(exc)
                try:
                    (done,) = self._db.execute(
                        "SELECT count(*) FROM spool WHERE id > ? AND id <= ?",
                        (self._gone_through, last_id),
                    ).fetchone()
                except sqlite3.Error:
                    done = self._count  # unreadable too: left on disk for the next start
                self._count -= int(done)
                self._skipped += int(done)
            self._gone_through = max(self._gone_through, last_id)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _disk_refused(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return any(name.startswith(prefix) for prefix in _DISK_ERRORS)


def _check_path(path: Path) -> None:
    """What makes a path unusable whatever the disk's state: said in one line."""
    if path.is_dir():
        raise SpoolError(f"{str(path)!r} is a directory; name a file in it")
    if path.exists() and not path.is_file():
        raise SpoolError(f"{str(path)!r} is not a regular file")
    parent = path.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise SpoolError(
            f"cannot create the directory {str(parent)!r}: a file is in the way"
        ) from None
    except OSError as exc:
        raise SpoolError(f"cannot create the directory {str(parent)!r}: {exc.strerror}") from None
    if not os.access(parent, os.W_OK | os.X_OK):
        raise SpoolError(f"the directory {str(parent)!r} is not writable by this process")
    if path.exists() and not os.access(path, os.R_OK | os.W_OK):
        raise SpoolError(f"{str(path)!r} is not readable and writable by this process")
