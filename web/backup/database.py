"""The SQL database into a file and back, while the system runs.

SQLite: the online backup API (``sqlite3.Connection.backup``), which copies a
consistent snapshot page by page while writers go on. PostgreSQL: ``pg_dump
--format=custom`` inside a repeatable-read transaction whose snapshot it shares
(``--snapshot``), so the row counts of the manifest are those of the dump exactly.
Restore: SQLite replaces the file; PostgreSQL runs ``pg_restore --clean`` in one
transaction. Passwords go to the tools in ``PGPASSWORD``, never on a command line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncConnection

from config.settings import DatabaseSettings
from web.db.session import create_engine, database_url

SKIP = frozenset({"alembic_version", "sqlite_sequence"})
# Table names in count queries come from the database's own catalog, quoted (S608).


class BackupError(Exception):
    """Something that stops a backup or a restore, said so an operator can act on it."""


@dataclass
class Dumped:
    kind: str  # sqlite | postgresql
    revision: str | None
    rows: dict[str, int]  # table -> rows, in the file written


def kind_of(raw_url: str) -> str:
    return database_url(raw_url).get_backend_name()


def sqlite_path(raw_url: str) -> Path:
    db = database_url(raw_url).database or ""
    if db in ("", ":memory:"):
        raise BackupError("database.url is an in-memory SQLite database: nothing to back up")
    return Path(db)


def _libpq(url: URL) -> tuple[str, dict[str, str]]:
    """A libpq URI without its password, and the environment that carries it."""
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise BackupError(f"{tool} not found: apt-get install postgresql-client")
    return path


# ---- backup --------------------------------------------------------------------------


async def dump(raw_url: str, dest: Path) -> Dumped:
    kind = kind_of(raw_url)
    if kind == "sqlite":
        return await asyncio.to_thread(_dump_sqlite, sqlite_path(raw_url), dest)
    return await _dump_postgres(raw_url, dest)


def _dump_sqlite(src: Path, dest: Path) -> Dumped:
    if not src.exists():
        raise BackupError(f"database {src} does not exist (has the web tier ever run?)")
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, timeout=30)
    with contextlib.closing(source) as s, contextlib.closing(sqlite3.connect(dest)) as d:
        s.backup(d)
    revision, rows = _sqlite_contents(dest)
    return Dumped("sqlite", revision, rows)


def _sqlite_contents(path: Path) -> tuple[str | None, dict[str, int]]:
    with contextlib.closing(sqlite3.connect(path)) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {
            t: int(db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0])  # noqa: S608
            for t in sorted(tables)
            if t not in SKIP
        }
        revision = None
        if "alembic_version" in tables:
            found = db.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = found[0] if found else None
    return revision, rows


async def _dump_postgres(raw_url: str, dest: Path) -> Dumped:
    pg_dump = _need("pg_dump")
    dsn, env = _libpq(database_url(raw_url))
    engine = create_engine(DatabaseSettings(url=raw_url))
    try:
        async with engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="REPEATABLE READ")
            async with conn.begin():
                snapshot = await conn.scalar(text("SELECT pg_export_snapshot()"))
                proc = await asyncio.create_subprocess_exec(
                    pg_dump,
                    "--format=custom",
                    "--no-owner",
                    "--no-privileges",
                    f"--snapshot={snapshot}",
                    f"--file={dest}",
                    f"--dbname={dsn}",
                    env=env,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.PIPE,
                )
                _, err = await proc.communicate()
                if proc.returncode != 0:
                    raise BackupError(f"pg_dump failed: {err.decode(errors='replace').strip()}")
                revision, rows = await _pg_contents(conn)
    finally:
        await engine.dispose()
    return Dumped("postgresql", revision, rows)


async def _pg_contents(conn: AsyncConnection) -> tuple[str | None, dict[str, int]]:
    tables = list(
        (
            await conn.scalars(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                )
            )
        ).all()
    )
    rows = {
        t: int(await conn.scalar(text(f'SELECT count(*) FROM "{t}"')) or 0)  # noqa: S608
        for t in sorted(tables)
        if t not in SKIP
    }
    revision = None
    if "alembic_version" in tables:
        revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
    return revision, rows


# ---- restore -------------------------------------------------------------------------


async def occupied(raw_url: str) -> dict[str, int]:
    """The target's tables that hold rows ({} : empty, or not there yet)."""
    if kind_of(raw_url) == "sqlite":
        path = sqlite_path(raw_url)
        if not path.exists():
            return {}
        _, rows = await asyncio.to_thread(_sqlite_contents, path)
    else:
        engine = create_engine(DatabaseSettings(url=raw_url))
        try:
            async with engine.connect() as conn:
                _, rows = await _pg_contents(conn)
        finally:
            await engine.dispose()
    return {t: n for t, n in rows.items() if n}


async def load(raw_url: str, src: Path) -> None:
    if kind_of(raw_url) == "sqlite":
        await asyncio.to_thread(_load_sqlite, src, sqlite_path(raw_url))
    else:
        await _load_postgres(database_url(raw_url), src)


def _load_sqlite(src: Path, dest: Path) -> None:
    """The file in place at once (a rename), its old WAL and shared memory gone first."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".restoring")
    shutil.copyfile(src, tmp)
    for suffix in ("-wal", "-shm"):
        dest.with_name(dest.name + suffix).unlink(missing_ok=True)
    os.replace(tmp, dest)


async def _load_postgres(url: URL, src: Path) -> None:
    pg_restore = _need("pg_restore")
    dsn, env = _libpq(url)
    proc = await asyncio.create_subprocess_exec(
        pg_restore,
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--dbname={dsn}",
        str(src),
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise BackupError(f"pg_restore failed: {err.decode(errors='replace').strip()}")
