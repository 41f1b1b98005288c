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

from config import ConfigError
from config.loader import problem
from robodine import __version__

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


def _upgrade(conn: Connection, cfg: Config, to: str = "head") -> None:
    cfg.attributes["connection"] = conn
    # Alembic's own INFO lines (plain text, one per revision) say what database_migrated says.
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    if logging.getLogger().getEffectiveLevel() > logging.DEBUG:  # debug keeps them
        alembic_log.setLevel(logging.WARNING)
    try:
        command.upgrade(cfg, to)
    finally:
        alembic_log.setLevel(level)


def known_revisions() -> set[str]:
    return {r.revision for r in ScriptDirectory.from_config(alembic_config()).walk_revisions()}


def check_not_newer(revision: str | None) -> None:
    """A database migrated by a newer robodine is never downgraded, nor used by this
    older code (its tables may have columns and meanings this code does not know):
    ConfigError, reported as one line and exit status 2."""
    if revision is None or revision in known_revisions():
        return
    raise ConfigError(
        [
            problem(
                "database.url",
                f"the database's schema is at revision {revision}, which this robodine "
                f"{__version__} (schema {head_revision()}) does not know: a newer version "
                "migrated it, and downgrades are refused. Install that version again, or "
                "restore a backup made before the upgrade (docs/operations.md, Upgrade)",
            )
        ]
    )


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def upgrade(engine: AsyncEngine, to: str = "head") -> str | None:
    """Bring the schema to ``to`` (head); returns the revision now current. A schema
    newer than this code's is refused (``check_not_newer``), never downgraded."""
    target = head_revision() if to == "head" else to
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        before = await conn.run_sync(_current)
        check_not_newer(before)
        if before != target:
            await conn.run_sync(_upgrade, alembic_config(), to)
            log.info("database_migrated", revision_from=before, revision_to=target)
    return target
