"""Integrations (a POS, a building system): API keys with a role and a scope, and the chat
rooms admins add at run time."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from web.db.models import Base, UTCDateTime, utcnow


class Integration(Base):
    """One integration and its key: ``prefix`` finds the row, ``key_hash`` (SHA-256 of the
    whole key, which has 256 bits of randomness) proves it; the key itself is never kept."""

    __tablename__ = "integrations"
    __table_args__ = (CheckConstraint("role IN ('admin', 'staff', 'viewer')", name="role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    role: Mapped[str] = mapped_column(String(16))
    robots: Mapped[str | None] = mapped_column(Text, default=None)  # JSON list; null: all
    routes: Mapped[str | None] = mapped_column(Text, default=None)  # JSON list; null: all
    rate_per_min: Mapped[int | None] = mapped_column(Integer, default=None)  # null: the default
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)  # bumped by a revocation
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    last_used_address: Mapped[str | None] = mapped_column(String(64), default=None)


class ChatRoomRow(Base):
    """A chat room added through the API; the config's `[[chat.rooms]]` are the defaults."""

    __tablename__ = "chat_rooms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    title: Mapped[str] = mapped_column(String(100), default="")
    read_roles: Mapped[str] = mapped_column(String(64))  # comma-separated
    write_roles: Mapped[str] = mapped_column(String(64))
    archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
