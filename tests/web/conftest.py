"""The web tier against real servers: redis-server, SQLite files and (when reachable) PostgreSQL.

``make_env`` builds one web process (an app on a test server) with three
logged-in users; call it twice for two web processes sharing Redis.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from tests.servers import postgres_available
from tests.support.web import _migrate, env, make_env, sqlite_template, sqlite_url  # noqa: F401 - fixtures

PG = "postgresql://postgres@127.0.0.1:5432"


# ---- databases ---------------------------------------------------------------


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """A migrated PostgreSQL database to clone per test, or None when none is reachable."""
    if not postgres_available():
        yield None
        return
    name = f"rd_tpl_{uuid.uuid4().hex[:10]}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{PG}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f"CREATE DATABASE {name}"))
    except (OSError, asyncpg.PostgresError):
        yield None
        return
    _migrate(f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}")
    yield name
    asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
async def pg_url(pg_template: str | None) -> AsyncIterator[str]:
    """A throw-away PostgreSQL database (cloned from the migrated template), dropped after."""
    if pg_template is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    name = f"rd_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute(f"CREATE DATABASE {name} TEMPLATE {pg_template}")
    finally:
        await conn.close()
    yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    conn = await asyncpg.connect(f"{PG}/postgres")
    try:
        await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", "postgres"])
def any_db_url(request: pytest.FixtureRequest) -> str:
    """Parametrizes a test over SQLite and PostgreSQL (skipped when PostgreSQL is absent)."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url"))


# ---- the web process under test ---------------------------------------------------
