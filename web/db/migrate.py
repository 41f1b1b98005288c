"""Run the alembic migrations programmatically on an AsyncEngine (at start and from the CLI).

Several web processes may start at once against one PostgreSQL: the upgrade
holds an advisory lock so exactly one of them migrates and the others wait.
SQLite serialises writers by itself.
"""

from __future__ import annotations

import logging
from pathlib import Path

import structlog
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger("web.db")

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x524F424F44494E45 & 0x7FFFFFFFFFFFFFFF  # "ROBODINE"


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _current(conn: Connection) -> str | None:
    return MigrationContext.configure(conn).get_current_revision()


def _upgrade(conn: Connection, cfg: Config) -> None:
    cfg.attributes["connection"] = conn
    # Alembic's own INFO lines (plain text, one per revision) say what database_migrated says.
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:  # debug keeps them
        alembic_log.setLevel(logging.WARNING)
    try:
        command.upgrade(cfg, "head")
    finally:
        alembic_log.setLevel(level)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine) -> str | None:
    """Bring the schema to head; returns the revision now current."""
    head = head_revision()
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        before = await conn.run_sync(_current)
        if before != head:
            await conn.run_sync(_upgrade, alembic_config())
            log.info("database_migrated", revision_from=before, revision_to=head)
    return head
