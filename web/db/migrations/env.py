"""Alembic environment: uses the connection handed in by web.db.migrate, or database.url.

Run by hand for new revisions:
    alembic -c web/db/alembic.ini revision -m "add orders"
(the URL comes from the robodine config: $ROBODINE_CONFIG / $ROBODINE_DATABASE_URL).
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy import Connection

from web.db.schema import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER TABLE via copy on SQLite
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _from_settings() -> None:
    from config import load_settings
    from web.db.session import create_engine

    engine = create_engine(load_settings().database)

    async def go() -> None:
        async with engine.begin() as conn:
            await conn.run_sync(_run)
        await engine.dispose()

    asyncio.run(go())


if context.is_offline_mode():
    from config import load_settings
    from web.db.session import database_url

    context.configure(
        url=database_url(load_settings().database.url),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    conn = context.config.attributes.get("connection")
    if conn is None:
        _from_settings()
    else:
        _run(conn)
