"""Orders, their lines, their history, and the outbox that hands them to the gateway.

An order, its inventory decrement and its outbox row are written in one
transaction; the relay (web/orders/outbox.py) publishes outbox rows to
rd:commands and the projector (web/orders/projector.py) writes what the
gateway reports back into ``order_events``, keyed by the event's ``eid``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from web.db.models import Base, UTCDateTime, utcnow

STATUSES = ("placed", "cooking", "ready", "delivering", "delivered", "cancelled")
_STATUS_CHECK = "status IN ('placed', 'cooking', 'ready', 'delivering', 'delivered', 'cancelled')"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        CheckConstraint(_STATUS_CHECK, name="status"),
        CheckConstraint("total_minor >= 0", name="total"),
        Index("ix_orders_created_at", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(48), primary_key=True)  # [A-Za-z0-9_-]: args.order
    table_id: Mapped[int] = mapped_column(ForeignKey("floor_tables.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    total_minor: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    note: Mapped[str] = mapped_column(Text, default="")
    robot: Mapped[str] = mapped_column(String(64), default="")  # the delivering robot, once known
    created_by: Mapped[str] = mapped_column(String(32))
    # "user:Idempotency-Key": a retried POST answers the first order instead of a second one.
    idempotency_key: Mapped[str | None] = mapped_column(String(200), unique=True, default=None)
    request_digest: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)  # gateway


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("unit_price_minor >= 0", name="price"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    line: Mapped[int] = mapped_column(Integer)  # 1, 2, ... (args.items[].line)
    menu_item_id: Mapped[int] = mapped_column(ForeignKey("menu_items.id"))
    name: Mapped[str] = mapped_column(String(100))  # as ordered, even if the menu changes later
    recipe: Mapped[str | None] = mapped_column(String(64), default=None)  # None: staff prepares it
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_minor: Mapped[int] = mapped_column(Integer)


class OrderEvent(Base):
    """One thing that happened to an order: a status change or a task event.

    ``eid`` is the rd:events ``eid`` the projector applied (unique: a
    redelivered event is a no-op); NULL for what the web tier itself wrote
    (the order placed, a cancel).
    """

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    eid: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)
    stream_id: Mapped[str] = mapped_column(String(48), default="")
    type: Mapped[str] = mapped_column(String(48))  # order.status, task.assigned, ...
    status: Mapped[str | None] = mapped_column(String(16), default=None)  # order.status only
    previous: Mapped[str | None] = mapped_column(String(16), default=None)
    robot: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(Text, default="{}")  # the event's data, JSON
    source: Mapped[str] = mapped_column(String(64), default="")  # gateway name, web, a user
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OutboxRow(Base):
    """A command waiting to be put on rd:commands (``id`` becomes the command id)."""

    __tablename__ = "outbox"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True)  # publish order
    id: Mapped[str] = mapped_column(String(48), unique=True)
    type: Mapped[str] = mapped_column(String(32))  # order.place | order.cancel | order.pickup
    args: Mapped[str] = mapped_column(Text)  # JSON
    source: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None, index=True)
    stream_id: Mapped[str] = mapped_column(String(48), default="")
