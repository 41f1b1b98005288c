"""Camera recordings: one row per segment the recorder put in the media store."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from web.db.models import Base, UTCDateTime, utcnow


class Recording(Base):
    """Written after the segment's blob is whole in the store; deleted with it (retention)."""

    __tablename__ = "recordings"
    __table_args__ = (
        Index("ix_recordings_robot_camera_started", "robot", "camera", "started_at"),
        CheckConstraint("bytes >= 0 AND frames >= 0", name="sizes"),
        CheckConstraint("reason IN ('continuous', 'request', 'incident')", name="reason"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    robot: Mapped[str] = mapped_column(String(64))
    camera: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    frames: Mapped[int] = mapped_column(Integer)
    bytes: Mapped[int] = mapped_column(BigInteger)
    format: Mapped[str] = mapped_column(String(8))  # avi | mp4
    content_type: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(16))  # continuous | request | incident
    incident: Mapped[str] = mapped_column(String(40), default="")  # the alarm's rd:events eid
    key: Mapped[str] = mapped_column(String(200))  # the blob's name in the store
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    store: Mapped[str] = mapped_column(String(8))  # local | s3
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
