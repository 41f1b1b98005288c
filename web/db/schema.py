"""Every mapped table, imported once, so ``Base.metadata`` knows them all (alembic, tests)."""

from __future__ import annotations

from web.db import integrations, media, orders, restaurant
from web.db.models import Base, Todo, User

metadata = Base.metadata

__all__ = ["Base", "Todo", "User", "integrations", "media", "metadata", "orders", "restaurant"]
