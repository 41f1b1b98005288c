"""What the operations tests share: one wheel built from this tree for the session."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from robodine.install.plan import build_wheel
from tests.servers import postgres_available

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def built_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel `robodine install` builds of this checkout."""
    return build_wheel(REPO, tmp_path_factory.mktemp("wheel"))


PG = "postgresql://postgres@127.0.0.1:5432"


@pytest.fixture
def pg_database() -> Iterator[Callable[[], str]]:
    """Makes throw-away PostgreSQL databases (their SQLAlchemy URLs), dropped after."""
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    import asyncpg

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(f"{PG}/postgres")
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    made: list[str] = []

    def make() -> str:
        name = f"rd_ops_{uuid.uuid4().hex[:10]}"
        asyncio.run(admin(f"CREATE DATABASE {name}"))
        made.append(name)
        return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"

    yield make
    for name in made:
        asyncio.run(admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
