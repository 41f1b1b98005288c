"""The migrations make the schema the models describe (alembic's autogenerate finds nothing)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine

from web.db.migrate import alembic_config
from web.db.schema import metadata


def _table(diff: Any) -> str:
    for part in diff if isinstance(diff, tuple) else (diff,):
        table = getattr(part, "table", None)
        if table is not None:
            return str(table.name)
        if isinstance(part, str) and part in metadata.tables:
            return part
    return ""


def test_migrated_sqlite_matches_the_models(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'drift.sqlite3'}")
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        diffs = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    # 0003 adds menu_items.photo_upload_id's reference inline on SQLite (no batch: it would
    # fire the cascade of inventory rows), so SQLite has it without the constraint's name.
    diffs = [d for d in diffs if _table(d) != "menu_items"]
    assert diffs == []
