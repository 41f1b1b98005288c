"""A bounded, ordered, on-disk queue of stream entries for Redis outages.

SQLite (stdlib) gives an ordered, crash-safe queue with transactions for
free: rows go in under one commit per batch, come out by rowid, and are
deleted only after Redis accepted them. What is in the spool survives a
gateway restart and is replayed first when Redis is back.

Every method blocks on disk; the writer calls them through
``asyncio.to_thread``, so the event loop never waits on the disk.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import msgspec


class SpoolRecord(msgspec.Struct, array_like=True):
    stream: str
    fields: dict[str, str | int | float]
    ack: str | None = None  # rd:commands entry to XACK once this is in Redis


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(SpoolRecord)


class Spool:
    def __init__(self, path: Path, max_records: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_records = max_records
        self._lock = threading.Lock()  # one sqlite connection, used from worker threads
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS spool (id INTEGER PRIMARY KEY, rec BLOB NOT NULL)"
        )
        self._count = int(self._db.execute("SELECT count(*) FROM spool").fetchone()[0])

    def __len__(self) -> int:
        return self._count

    def append(self, records: list[SpoolRecord]) -> int:
        """Store what fits; return how many did not fit (the caller counts them lost)."""
        with self._lock:
            room = max(0, self.max_records - self._count)
            kept = records[:room]
            if kept:
                with self._db:
                    self._db.execute("BEGIN")
                    self._db.executemany(
                        "INSERT INTO spool (rec) VALUES (?)", [(_encoder.encode(r),) for r in kept]
                    )
                self._count += len(kept)
            return len(records) - len(kept)

    def peek(self, n: int) -> list[tuple[int, SpoolRecord]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, rec FROM spool ORDER BY id LIMIT ?", (n,)
            ).fetchall()
        return [(int(i), _decoder.decode(b)) for i, b in rows]

    def delete_through(self, last_id: int) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN")
            cur = self._db.execute("DELETE FROM spool WHERE id <= ?", (last_id,))
            self._count -= cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
