"""Alarms derived from rd:events, their history, and the settings an admin may change live.

An alarm is one condition (a robot's e-stop, a failed delivery ...) identified
by its ``key``; ``active_key`` holds the key while the alarm is open (still
active, or cleared but waiting for an acknowledgement), and is unique, so one
condition has at most one open alarm on every backend and in every process.
``alarm_events`` records what happened to each alarm, with the rd:events
``eid`` that caused it where there is one (unique per alarm: a redelivered
event is applied once).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from web.db.models import Base, UTCDateTime, utcnow

SEVERITIES = ("critical", "major", "minor")
KINDS = (
    "estop",
    "fault",
    "vda_fatal",
    "offline",
    "stale",
    "battery_low",
    "delivery_failed",
    "system",
)


class Alarm(Base):
    __tablename__ = "alarms"
    __table_args__ = (
        CheckConstraint("severity IN ('critical', 'major', 'minor')", name="severity"),
        Index("ix_alarms_raised_at", "raised_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), index=True)  # the condition: "estop:serve-1"
    active_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    kind: Mapped[str] = mapped_column(String(32))
    severity: Mapped[str] = mapped_column(String(8))
    latched: Mapped[bool] = mapped_column(Boolean, default=True)  # cleared: still needs an ack
    robot: Mapped[str] = mapped_column(String(64), default="", index=True)
    order_id: Mapped[str] = mapped_column(String(48), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")  # JSON: what the event said
    count: Mapped[int] = mapped_column(Integer, default=1)  # times raised while open
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    cleared_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    acked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    acked_by: Mapped[str] = mapped_column(String(32), default="")
    ack_note: Mapped[str] = mapped_column(String(500), default="")
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class AlarmEvent(Base):
    """raised, repeated, cleared, acked, escalated: who or which event, and when."""

    __tablename__ = "alarm_events"
    __table_args__ = (UniqueConstraint("eid", "alarm_id", name="uq_alarm_events_eid"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id", ondelete="CASCADE"), index=True)
    action: Mapped[str] = mapped_column(String(16))
    eid: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    stream_id: Mapped[str] = mapped_column(String(48), default="")
    by: Mapped[str] = mapped_column(String(64), default="")  # a user, or the event's type
    detail: Mapped[str] = mapped_column(Text, default="{}")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RuntimeSetting(Base):
    """An admin's value for a setting that is safe to change while running (web/runtime)."""

    __tablename__ = "runtime_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)  # JSON
    updated_by: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
