"""What keeps the alarms current in a web process: rd:events read once per event, and checks.

Events come through the consumer group ``alarms`` (web/consumer.py: one consumer
per web process, named ``{web.name}:{host}:{pid}``; acknowledged after the commit, so a crash
re-reads an entry and its recorded ``eid`` makes it a no-op). The group starts
at the stream's end when first made: the history before the first start raises
nothing. Every ``alarms.check_every_s`` the checks run: batteries from the
robots' snapshots (``alarms.battery_below``), then the escalation of alarms
nobody acknowledged for ``alarms.escalate_after_s`` into ``alarms.escalate_room``,
both read from the run-time settings, so an admin's change applies at the next
check.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import msgspec
import structlog
from aiohttp import web
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from protocol.streams import EventRecord, from_fields
from robodine.backoff import Backoff
from robodine.redisio.client import connect
from robodine.redisio.keys import KEYS
from robodine.supervisor import Supervisor
from web.alarms.rules import LABELS, Effect, battery_effect, effects
from web.alarms.service import AlarmService, Notice, apply_effects, event_time, publish
from web.chat.service import ChatService
from web.consumer import Entry, GroupConsumer, consumer_name
from web.db.alarms import Alarm
from web.db.models import utcnow
from web.db.session import transaction
from web.keys import CHAT, DB, REDIS, SETTINGS
from web.runtime.store import RUNTIME, RuntimeSettings

log = structlog.get_logger("web.alarms")

GROUP = "alarms"


class AlarmRunner:
    def __init__(
        self,
        db: async_sessionmaker[AsyncSession],
        redis: Redis,
        blocking: Callable[[], Redis],
        settings: Settings,
        runtime: RuntimeSettings,
        chat: ChatService,
    ) -> None:
        self.db, self.redis, self.settings = db, redis, settings
        self.runtime, self.chat = runtime, chat
        self.src = settings.web.name
        self.service = AlarmService(db)
        self.consumer = GroupConsumer(
            blocking,
            [KEYS.events],
            GROUP,
            consumer_name(settings),
            self.handle,
            block_ms=settings.web.hub_block_ms,
            start_id="$",
        )
        self._stopping = False
        self._wake = asyncio.Event()  # set by stop: the checks' pause ends at once
        self._checks = Supervisor(
            log,
            lost="alarm_checks_unavailable",
            recovered="alarm_checks_recovered",
            backoff=Backoff(0.5, 10.0),
            bug="alarm_check_failed",  # logged with its traceback; tried again after a pause
            outages=(RedisError, SQLAlchemyError, OSError),
        )

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self.consumer.stop()

    async def run(self) -> None:
        await asyncio.gather(self.consumer.run(), self._run_checks())

    # ---- events ----------------------------------------------------------------

    async def handle(self, stream: str, entries: Sequence[Entry]) -> None:
        for sid, fields in entries:
            try:
                rec = from_fields(EventRecord, fields)
            except (msgspec.ValidationError, ValueError) as exc:
                log.warning("alarm_event_invalid", id=sid, error=str(exc))
                continue
            try:
                found = effects(rec)
            except Exception:  # a bug for one event must not stop the alarms of the rest
                log.exception("alarm_rule_failed", id=sid, type=rec.type)
                continue
            if found:
                await self.apply(found, at=event_time(rec.ts), by=rec.type, eid=rec.eid, sid=sid)

    async def apply(
        self,
        found: list[Effect],
        *,
        at: Any,
        by: str,
        eid: str | None = None,
        sid: str = "",
        bump: bool = True,
    ) -> list[Notice]:
        try:
            async with transaction(self.db) as s:
                notices = await apply_effects(
                    s, found, at=at, by=by, eid=eid, stream_id=sid, bump=bump
                )
        except IntegrityError:  # another consumer applied the same eid at the same moment
            return []
        await publish(self.redis, notices, self.src)
        return notices

    # ---- checks ----------------------------------------------------------------

    async def _run_checks(self) -> None:
        async def loop() -> None:
            while not self._stopping:
                await self.check()
                self._checks.ok()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.settings.alarms.check_every_s)

        await self._checks.run(loop, errors=Exception, running=lambda: not self._stopping)

    async def check(self) -> None:
        await self.check_batteries()
        await self.escalate()

    async def check_batteries(self) -> list[Notice]:
        below = float(await self.runtime.value("alarms.battery_below"))
        robots = sorted(_s(r) for r in await self.redis.smembers(KEYS.robots))
        if not robots:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for robot in robots:
            pipe.hmget(KEYS.robot(robot), ["battery", "connection"])
        found: list[Effect] = []
        for robot, (battery, connection) in zip(robots, await pipe.execute(), strict=True):
            if battery is None or _s(connection) == "offline":
                continue
            try:
                level = float(battery)
            except ValueError:
                continue
            eff = battery_effect(robot, level, below)
            if eff is not None:
                found.append(eff)
        if not found:
            return []
        return await self.apply(found, at=utcnow(), by="battery check", bump=False)

    async def escalate(self) -> list[Alarm]:
        after_s = float(await self.runtime.value("alarms.escalate_after_s"))
        if after_s <= 0:
            return []
        room = str(await self.runtime.value("alarms.escalate_room"))
        if room not in self.chat.rooms:
            log.error("alarm_room_unknown", room=room)
            return []
        minutes = max(1, round(after_s / 60))

        async def post(a: Alarm) -> None:
            await self.chat.post(
                room,
                self.chat.settings.relay_username,
                "system",
                escalation_text(a, minutes),
                system=True,
            )

        done = await self.service.escalate_due(after_s, "escalation", post)
        await publish(self.redis, [Notice("alarm.escalated", a, room) for a in done], self.src)
        return done


def escalation_text(a: Alarm, minutes: int) -> str:
    """One line for the managers, in Korean and English (chat has no language of its own)."""
    ko, en = LABELS.get(a.kind, (a.kind, a.kind))
    what = a.robot or a.order_id or "-"
    since = a.raised_at.astimezone().strftime("%H:%M")
    return (
        f"⚠ [{a.severity}] {what}: {ko} / {en} — {minutes}분째 확인 안 됨 / "
        f"not acknowledged for {minutes} min (since {since}, alarm #{a.id})"
    )


def _s(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


RUNNER = web.AppKey("alarm_runner", AlarmRunner)


async def alarms_ctx(app: web.Application) -> AsyncIterator[None]:
    """After chat (escalations are posted there): the runner, stopped before chat goes."""
    s = app[SETTINGS]
    runner = AlarmRunner(
        app[DB],
        app[REDIS],
        lambda: connect(
            s.redis, name=f"{s.web.name}:alarms", block_ms=s.web.hub_block_ms, decode=True
        ),
        s,
        app[RUNTIME],
        app[CHAT],
    )
    app[RUNNER] = runner
    task = asyncio.create_task(runner.run(), name="alarms")
    yield
    runner.stop()  # a check finishes its transaction; a blocking read returns within its BLOCK
    try:
        await asyncio.wait_for(asyncio.shield(task), s.web.hub_block_ms / 1000 + 2)
    except TimeoutError:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    except Exception:
        log.exception("alarms_failed")
