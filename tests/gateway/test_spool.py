"""The spool on a real disk that fills up, and on paths that cannot hold a spool."""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.streams.spool import Spool, SpoolError, SpoolRecord
from tests.disk import fill, free, small_filesystem


def records(n: int, start: int = 0) -> list[SpoolRecord]:
    return [
        SpoolRecord("rd:events", {"eid": f"e{i}", "data": "x" * 300}, ack=None)
        for i in range(start, start + n)
    ]


def degraded(spool: Spool) -> str | None:
    """Why ``spool`` is degraded, read afresh: an assert on the attribute itself would keep
    mypy's narrowing of it across the spool's own calls, which change it."""
    return spool.degraded


def test_a_full_disk_loses_the_newest_batch_and_the_spool_recovers(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs") as fs:
        spool = Spool(fs / "spool.sqlite3", 1_000_000)
        kept = 0
        for _ in range(1000):
            lost = spool.append(records(20, kept))
            if lost:
                break
            kept += 20
        else:
            pytest.fail("the filesystem never filled")
        assert kept > 0 and lost == 20  # the whole newest batch, none of it stored
        reason = degraded(spool)
        assert reason is not None and "full" in reason
        assert len(spool) == kept
        filler = fill(fs)  # not a block left
        assert spool.append(records(200, kept)) == 200  # lost again, no error
        # what is already spooled still comes out, in order, and can be deleted
        rows = spool.peek(kept)
        assert [r.fields["eid"] for _, r in rows] == [f"e{i}" for i in range(kept)]
        spool.delete_through(rows[kept // 2][0])
        assert len(spool) == kept - kept // 2 - 1
        free(filler)
        assert spool.append(records(3, 10_000)) == 0  # room again: taken
        assert degraded(spool) is None and len(spool) == kept - kept // 2 + 2
        spool.close()


def test_a_start_onto_a_full_disk_is_degraded_not_fatal(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs") as fs:
        filler = fill(fs)
        spool = Spool(fs / "spool.sqlite3", 1000)  # a new file: SQLite cannot even create it
        assert degraded(spool) is not None and len(spool) == 0
        assert spool.append(records(4)) == 4
        assert spool.peek(10) == []
        spool.delete_through(10)  # nothing to do, no error
        free(filler)
        assert spool.append(records(4)) == 0  # the disk has room: the spool opens
        assert degraded(spool) is None and len(spool) == 4
        spool.close()
        again = Spool(fs / "spool.sqlite3", 1000)
        assert [r.fields["eid"] for _, r in again.peek(10)] == ["e0", "e1", "e2", "e3"]
        again.close()


def test_rows_in_redis_that_cannot_be_deleted_are_not_handed_out_again(tmp_path: Path) -> None:
    """Rows replayed into Redis but not deletable (SQLite refuses the DELETE) are skipped;
    a restart hands them out once more (the writer's replay skips copies Redis holds)."""
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path, 10_000)
    assert spool.append(records(30)) == 0
    db = spool._db
    assert db is not None
    refuse = sqlite3.SQLITE_DENY
    db.set_authorizer(lambda action, *_: refuse if action == sqlite3.SQLITE_DELETE else 0)
    spool.delete_through(spool.peek(10)[-1][0])
    assert degraded(spool) is not None and len(spool) == 20
    assert [r.fields["eid"] for _, r in spool.peek(5)] == [f"e{i}" for i in range(10, 15)]
    spool.delete_through(spool.peek(5)[-1][0])
    assert len(spool) == 15
    db.set_authorizer(None)
    spool.delete_through(spool.peek(1)[0][0])  # allowed again: all 16 go for real
    assert len(spool) == 14 and degraded(spool) is None
    spool.close()
    again = Spool(path, 10_000)
    assert len(again) == 14 and again.peek(1)[0][1].fields["eid"] == "e16"
    again.close()


def _directory(tmp: Path) -> Path:
    (tmp / "spool.sqlite3").mkdir()
    return tmp / "spool.sqlite3"


def _under_a_file(tmp: Path) -> Path:
    (tmp / "file").write_text("")
    return tmp / "file" / "spool.sqlite3"


def _not_a_spool(tmp: Path) -> Path:
    (tmp / "spool.sqlite3").write_bytes(b"not a database at all, just some bytes" * 100)
    return tmp / "spool.sqlite3"


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (_directory, "is a directory"),
        (_under_a_file, "cannot create the directory .*: a file is in the way"),
        (_not_a_spool, "cannot be used as the spool: file is not a database"),
    ],
)
def test_a_path_that_cannot_hold_a_spool_is_an_error_that_says_why(
    tmp_path: Path, make: Callable[[Path], Path], says: str
) -> None:
    with pytest.raises(SpoolError, match=says):
        Spool(make(tmp_path), 10)


def test_a_read_only_directory_is_an_error_at_start(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "fs") as fs:
        subprocess.run(["mount", "-o", "remount,ro", str(fs)], check=True)
        with pytest.raises(SpoolError, match="not writable"):
            Spool(fs / "spool.sqlite3", 10)
