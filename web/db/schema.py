"""Every mapped table, imported once, so ``Base.metadata`` knows them all (alembic, tests)."""

from __future__ import annotations

from web.db import alarms, integrations, media, orders, recordings, restaurant
from web.db.models import Base, Todo, User

metadata = Base.metadata

__all__ = [
    "Base",
    "Todo",
    "User",
    "alarms",
    "integrations",
    "media",
    "metadata",
    "orders",
    "recordings",
    "restaurant",
]
