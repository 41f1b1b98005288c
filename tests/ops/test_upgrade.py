"""Upgrades: a database made at the first migration, with data in it, goes to head and
loses nothing; a database from a newer robodine is refused, never downgraded."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from sqlalchemy import text

from config.settings import DatabaseSettings
from web.db.migrate import head_revision, upgrade
from web.db.session import create_engine

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


async def _first_then_head(url: str) -> tuple[list[tuple[str, str]], list[tuple[str, bool]], str]:
    engine = create_engine(DatabaseSettings(url=url))
    try:
        assert await upgrade(engine, "0001") == "0001"
        async with engine.begin() as conn:
            for name in ("minji", "joon"):
                await conn.execute(
                    text(
                        "INSERT INTO users (username, password_hash, role, disabled, token_version,"
                        " created_at, updated_at) VALUES (:u, :h, 'staff', false, 1, :t, :t)"
                    ),
                    {"u": name, "h": f"$argon2id$fake-{name}", "t": NOW},
                )
            await conn.execute(
                text(
                    "INSERT INTO todos (title, notes, done, created_by, created_at, updated_at,"
                    " version) VALUES ('restock soju', 'two crates', true, 'minji', :t, :t, 1)"
                ),
                {"t": NOW},
            )
        revision = await upgrade(engine)
        async with engine.connect() as conn:
            users = cast(  # the columns the SELECT names (text() rows are untyped)
                list[tuple[str, str]],
                [
                    tuple(r)
                    for r in await conn.execute(
                        text("SELECT username, password_hash FROM users ORDER BY username")
                    )
                ],
            )
            todos = cast(
                list[tuple[str, bool]],
                [tuple(r) for r in await conn.execute(text("SELECT title, done FROM todos"))],
            )
            # head's tables are there and usable
            await conn.execute(text("SELECT count(*) FROM orders"))
    finally:
        await engine.dispose()
    return users, todos, str(revision)


def _check(url: str) -> None:
    users, todos, revision = asyncio.run(_first_then_head(url))
    assert revision == head_revision()
    assert users == [("joon", "$argon2id$fake-joon"), ("minji", "$argon2id$fake-minji")]
    assert todos == [("restock soju", True)]


def test_first_migration_with_data_upgrades_to_head_sqlite(tmp_path: Path) -> None:
    _check(f"sqlite+aiosqlite:///{tmp_path}/old.sqlite3")


def test_first_migration_with_data_upgrades_to_head_postgresql(
    pg_database: Callable[[], str],
) -> None:
    _check(pg_database())


def test_a_database_from_a_newer_robodine_is_refused(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/new.sqlite3"

    async def newer() -> None:
        engine = create_engine(DatabaseSettings(url=url))
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0042'"))
        await engine.dispose()

    asyncio.run(newer())
    for argv in (["db", "upgrade"], ["web"]):
        out = subprocess.run(
            [sys.executable, "-m", "robodine", *argv],
            env={
                "ROBODINE_DATABASE_URL": url,
                "ROBODINE_WEB_SECRET": "s" * 40,
                "ROBODINE_DATA_KEY": "ab" * 32,
                "ROBODINE_WEB_PORT": "0",
                "ROBODINE_WEB_METRICS_PORT": "0",
                "PATH": "/usr/bin:/bin",
            },
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 2, (argv, out.stderr)
        last = out.stderr.strip().splitlines()[-1]
        assert last.startswith(
            "robodine: config: database.url: the database's schema is at "
            "revision 0042, which this robodine"
        ), last
        assert "downgrades are refused" in last
