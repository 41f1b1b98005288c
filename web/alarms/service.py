"""Alarms in SQL: raise, repeat and clear them from effects, acknowledge, escalate, read.

Every change is made inside the caller's transaction and returns the notices
(``alarm.raised``, ``alarm.cleared``, ``alarm.acked``, ``alarm.escalated``)
the caller writes to rd:events after the commit, so the dashboards hear of it
and the event feed keeps the audit trail (``publish``, best effort: with Redis
down the change stands in SQL and only its event is missing).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.streams import EventRecord, Level, to_fields
from robodine.redisio.keys import KEYS
from web.alarms.rules import LATCHED, RANK, Clear, Effect, Raise
from web.alarms.schemas import AlarmHistory, AlarmOut, AlarmsQuery
from web.db.alarms import Alarm, AlarmEvent
from web.db.models import utcnow
from web.db.session import transaction
from web.http.problems import not_found

log = structlog.get_logger("web.alarms")


@dataclass(frozen=True)
class Notice:
    type: str  # alarm.raised | alarm.cleared | alarm.acked | alarm.escalated
    alarm: Alarm
    by: str = ""


def needs_ack_clause() -> ColumnElement[bool]:
    return and_(Alarm.acked_at.is_(None), or_(Alarm.cleared_at.is_(None), Alarm.latched))


def _needs_ack(a: Alarm) -> bool:
    return a.acked_at is None and (a.cleared_at is None or a.latched)


def alarm_out(a: Alarm, history: list[AlarmEvent] | None = None) -> AlarmOut:
    return AlarmOut(
        id=a.id,
        key=a.key,
        kind=a.kind,  # type: ignore[arg-type]  # the table holds only known kinds
        severity=a.severity,  # type: ignore[arg-type]
        latched=a.latched,
        robot=a.robot,
        order=a.order_id,
        detail=orjson.loads(a.detail),
        count=a.count,
        raised_at=a.raised_at,
        last_at=a.last_at,
        cleared_at=a.cleared_at,
        acked_at=a.acked_at,
        acked_by=a.acked_by,
        ack_note=a.ack_note,
        escalated_at=a.escalated_at,
        active=a.cleared_at is None,
        needs_ack=_needs_ack(a),
        history=None
        if history is None
        else [
            AlarmHistory(
                action=h.action,  # type: ignore[arg-type]
                at=h.at,
                by=h.by,
                detail=orjson.loads(h.detail),
            )
            for h in history
        ],
    )


def _history(
    alarm: Alarm,
    action: str,
    at: datetime,
    by: str,
    eid: str | None,
    sid: str,
    detail: dict[str, Any],
) -> AlarmEvent:
    return AlarmEvent(
        alarm_id=alarm.id,
        action=action,
        eid=eid,
        stream_id=sid,
        by=by,
        detail=orjson.dumps(detail).decode(),
        at=at,
    )


async def _open(s: AsyncSession, key: str) -> Alarm | None:
    return await s.scalar(select(Alarm).where(Alarm.active_key == key).with_for_update())


async def apply_effects(
    s: AsyncSession,
    effects: list[Effect],
    *,
    at: datetime,
    by: str,
    eid: str | None = None,
    stream_id: str = "",
    bump: bool = True,
) -> list[Notice]:
    """Apply one event's effects. An ``eid`` applied before changes nothing (redelivery);
    ``bump=False`` (the battery check, every few seconds) leaves an open alarm as it is."""
    if eid is not None and await s.scalar(
        select(AlarmEvent.id).where(AlarmEvent.eid == eid).limit(1)
    ):
        return []
    notices: list[Notice] = []
    for eff in effects:
        alarm = await _open(s, eff.key)
        if isinstance(eff, Clear):
            if alarm is None or alarm.cleared_at is not None:
                continue
            alarm.cleared_at = at
            if alarm.acked_at is not None or not alarm.latched:
                alarm.active_key = None
            s.add(_history(alarm, "cleared", at, by, eid, stream_id, {"reason": eff.reason}))
            notices.append(Notice("alarm.cleared", alarm, by))
            continue
        if alarm is None:
            alarm = await _insert(s, eff, at)
            if alarm is None:  # another process opened it this instant: it is theirs
                continue
            s.add(_history(alarm, "raised", at, by, eid, stream_id, eff.detail))
            notices.append(Notice("alarm.raised", alarm, by))
            continue
        if not bump:
            continue
        alarm.count += 1
        alarm.last_at = at
        worse = RANK[eff.severity] > RANK[alarm.severity]
        back = alarm.cleared_at is not None
        if worse:  # stale -> offline: the same alarm, graver now
            alarm.kind, alarm.severity = eff.kind, eff.severity
            alarm.latched = eff.severity in LATCHED
        if worse or back:
            alarm.cleared_at = None
            alarm.detail = orjson.dumps({**orjson.loads(alarm.detail), **eff.detail}).decode()
        s.add(_history(alarm, "repeated", at, by, eid, stream_id, eff.detail))
        if worse or back:
            notices.append(Notice("alarm.raised", alarm, by))
    await s.flush()
    return notices


async def _insert(s: AsyncSession, eff: Raise, at: datetime) -> Alarm | None:
    alarm = Alarm(
        key=eff.key,
        active_key=eff.key,
        kind=eff.kind,
        severity=eff.severity,
        latched=eff.severity in LATCHED,
        robot=eff.robot,
        order_id=eff.order,
        detail=orjson.dumps(eff.detail).decode(),
        raised_at=at,
        last_at=at,
    )
    try:
        async with s.begin_nested():
            s.add(alarm)
            await s.flush()
    except IntegrityError:
        return None
    log.warning(
        "alarm_raised",
        alarm=alarm.id,
        kind=alarm.kind,
        severity=alarm.severity,
        robot=alarm.robot,
        order=alarm.order_id,
    )
    return alarm


class AlarmService:
    def __init__(self, db: async_sessionmaker[AsyncSession]) -> None:
        self.db = db

    async def page(self, q: AlarmsQuery) -> tuple[list[AlarmOut], int, int]:
        where: list[ColumnElement[bool]] = []
        if q.state == "needs_ack":
            where.append(needs_ack_clause())
        elif q.state == "active":
            where.append(Alarm.cleared_at.is_(None))
        elif q.state == "open":
            where.append(Alarm.active_key.is_not(None))
        if q.severity:
            where.append(Alarm.severity.in_(q.severity))
        if q.kind:
            where.append(Alarm.kind.in_(q.kind))
        if q.robot is not None:
            where.append(Alarm.robot == q.robot)
        async with self.db() as s:
            rows = (
                await s.scalars(
                    select(Alarm)
                    .where(*where)
                    .order_by(Alarm.raised_at.desc(), Alarm.id.desc())
                    .limit(q.limit)
                    .offset(q.offset)
                )
            ).all()
            total = await s.scalar(select(func.count()).select_from(Alarm).where(*where))
            pending = await s.scalar(
                select(func.count()).select_from(Alarm).where(needs_ack_clause())
            )
        return [alarm_out(a) for a in rows], int(total or 0), int(pending or 0)

    async def get(self, alarm_id: int) -> AlarmOut:
        async with self.db() as s:
            a = await s.get(Alarm, alarm_id)
            if a is None:
                raise not_found("alarm", str(alarm_id))
            history = (
                await s.scalars(
                    select(AlarmEvent)
                    .where(AlarmEvent.alarm_id == alarm_id)
                    .order_by(AlarmEvent.at, AlarmEvent.id)
                )
            ).all()
            return alarm_out(a, list(history))

    async def ack(self, alarm_id: int, user: str, note: str) -> tuple[AlarmOut, list[Notice]]:
        """Acknowledged once: a second acknowledgement answers the first unchanged."""
        async with transaction(self.db) as s:
            a = await s.get(Alarm, alarm_id, with_for_update=True)
            if a is None:
                raise not_found("alarm", str(alarm_id))
            if a.acked_at is not None:
                return alarm_out(a), []
            now = utcnow()
            a.acked_at, a.acked_by, a.ack_note = now, user, note
            if a.cleared_at is not None:
                a.active_key = None
            s.add(_history(a, "acked", now, user, None, "", {"note": note} if note else {}))
            await s.flush()
            out = alarm_out(a)
        log.info("alarm_acked", alarm=alarm_id, kind=a.kind, robot=a.robot, user=user)
        return out, [Notice("alarm.acked", a, user)]

    async def escalate_due(
        self, after_s: float, by: str, post: Callable[[Alarm], Awaitable[object]]
    ) -> list[Alarm]:
        """Alarms unacknowledged for ``after_s`` and not escalated yet, each claimed by a
        conditional update and posted (``post``) in the same transaction: with several web
        processes each is escalated once, and a post that fails (Redis down) undoes the
        claim, so the next check tries again."""
        cutoff = utcnow() - timedelta(seconds=after_s)
        async with self.db() as s:
            due = (
                await s.scalars(
                    select(Alarm.id).where(
                        needs_ack_clause(),
                        Alarm.escalated_at.is_(None),
                        Alarm.raised_at <= cutoff,
                    )
                )
            ).all()
        done = []
        for alarm_id in due:
            async with transaction(self.db) as s:
                now = utcnow()
                claimed = await s.execute(
                    update(Alarm)
                    .where(
                        Alarm.id == alarm_id,
                        Alarm.escalated_at.is_(None),
                        Alarm.acked_at.is_(None),
                    )
                    .values(escalated_at=now)
                )
                if getattr(claimed, "rowcount", 0) != 1:
                    continue
                a = await s.get(Alarm, alarm_id)
                assert a is not None
                s.add(_history(a, "escalated", now, by, None, "", {"after_s": after_s}))
                await post(a)
                done.append(a)
            log.warning("alarm_escalated", alarm=alarm_id, kind=a.kind, robot=a.robot)
        return done


async def publish(redis: Redis, notices: list[Notice], src: str) -> None:
    """The audit events of ``notices`` on rd:events (after the commit; best effort)."""
    try:
        for n in notices:
            a = n.alarm
            data: dict[str, Any] = {
                "alarm": a.id,
                "kind": a.kind,
                "severity": a.severity,
                "robot": a.robot,
                "order": a.order_id,
            }
            if n.by:
                data["by"] = n.by
            rec = EventRecord(
                eid=uuid.uuid4().hex,
                type=n.type,
                ts=time.time(),
                robot=a.robot,
                level=Level.INFO,
                src=src,
                data=data,
            )
            await redis.xadd(KEYS.events, dict(to_fields(rec)))  # type: ignore[arg-type]
    except RedisError as exc:
        log.warning("alarm_event_failed", error=str(exc) or type(exc).__name__)


def event_time(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)
