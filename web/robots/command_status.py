"""What became of each command: a record per command in Redis, moved on by its outcome events.

The web writes a command's record (``queued``) in the same Lua call that XADDs
the command to rd:commands, so there is never a command without a record. The
gateway tells what became of it in rd:events (``command.sent``,
``command.acked``, ``command.failed``: gateway/fleet/commands.py writes every
outcome there, together with the XACK of the command's entry); those events are
the one source of truth, and this module only folds them into the record.

A consumer group (``commands``, one consumer per web process) applies each
event once, also those written while no web process ran. Applying is
idempotent and a status only moves forward (queued < sent < acked, failed,
expired), so the same event applied twice changes nothing: a request waiting
for an outcome (``?wait=``) applies the event as soon as its process's hub
reads it, without waiting for the group.

Commands the gateway makes itself (the dispatcher's) get a record from their
first event. Records and the per-robot index live for
``redis.commands_retention_s`` after the command was queued, as long as
rd:commands keeps its entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, Final, cast

import msgspec
import orjson
import structlog
from aiohttp import web
from redis.asyncio import Redis

from config import Settings
from protocol.streams import CommandRecord, EventRecord, EventType, to_fields
from robodine.redisio.client import connect
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import Entry, as_str
from web.consumer import GroupConsumer, consumer_name
from web.http.problems import not_found
from web.keys import HUB, REDIS, SETTINGS
from web.robots.schemas import CommandOut, CommandStatusName
from web.security import iso

log = structlog.get_logger("web.commands")

GROUP: Final = "commands"
MAX_WAIT_S: Final = 30.0
RECHECK_S: Final = 1.0  # a waiting request re-reads the record this often (a missed event)
FINISHED: Final = frozenset({"acked", "failed", "expired"})
_OUTCOMES: Final = frozenset(
    {EventType.COMMAND_SENT, EventType.COMMAND_ACKED, EventType.COMMAND_FAILED}
)
_RANK: Final = {"queued": 0, "sent": 1, "acked": 2, "failed": 2, "expired": 2}


def record_key(command_id: str) -> str:
    return KEYS.command(command_id)


def index_key(robot: str) -> str:
    return KEYS.robot_commands(robot)


# KEYS[1] rd:commands, KEYS[2] the record, KEYS[3] the robot's index.
# ARGV[1] retention s, ARGV[2] score (ms), ARGV[3] lowest score kept, ARGV[4] command id,
# ARGV[5] n: the stream entry's field/value pairs follow (2n values), then the record's.
_QUEUE = """
local n = tonumber(ARGV[5])
local sid = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 6, 5 + 2 * n))
redis.call('HSET', KEYS[2], 'status', 'queued', 'stream_id', sid, unpack(ARGV, 6 + 2 * n))
redis.call('EXPIRE', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[2], ARGV[4])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', '(' .. ARGV[3])
redis.call('EXPIRE', KEYS[3], ARGV[1])
return sid
"""

# KEYS[1] the record, KEYS[2] the robot's index.
# ARGV[1] retention s, ARGV[2] score (ms), ARGV[3] lowest score kept, ARGV[4] command id,
# ARGV[5] the status the event gives, ARGV[6] n: n field/value pairs for a record made
# from this event (a command the web did not queue), then the pairs the event sets.
# Answers the record as it is afterwards (HGETALL).
_APPLY = """
local rank = {queued = 0, sent = 1, acked = 2, failed = 2, expired = 2}
local n = tonumber(ARGV[6])
local cur = redis.call('HGET', KEYS[1], 'status')
if not cur then
  redis.call('HSET', KEYS[1], 'status', ARGV[5], unpack(ARGV, 7, 6 + 2 * n))
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[2], ARGV[2], ARGV[4])
  redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])
  redis.call('EXPIRE', KEYS[2], ARGV[1])
elseif (rank[ARGV[5]] or 0) <= (rank[cur] or 0) then
  return redis.call('HGETALL', KEYS[1])
end
redis.call('HSET', KEYS[1], 'status', ARGV[5], unpack(ARGV, 7 + 2 * n))
return redis.call('HGETALL', KEYS[1])
"""


def _flat(pairs: dict[str, Any]) -> list[Any]:
    return [x for kv in pairs.items() for x in kv]


def _status_of(rec: EventRecord) -> CommandStatusName:
    if rec.type == EventType.COMMAND_SENT:
        return "sent"
    if rec.type == EventType.COMMAND_ACKED:
        return "acked"
    return "expired" if rec.data.get("reason") == "expired" else "failed"


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def command_id_of(rec: EventRecord) -> str | None:
    cid = rec.data.get("command")
    return cid if isinstance(cid, str) and cid and rec.robot else None


def command_out(fields: dict[str, str]) -> CommandOut:
    """A record (HGETALL, str values) as the API answers it."""

    def when(key: str) -> str | None:
        raw = fields.get(key)
        return iso(float(raw)) if raw else None

    status = fields.get("status", "queued")
    return CommandOut(
        command=fields["id"],
        robot=fields["robot"],
        action=fields.get("action", ""),
        args=orjson.loads(fields.get("args") or "{}"),
        source=fields.get("source", ""),
        status=cast(CommandStatusName, status if status in _RANK else "queued"),
        attempts=int(fields.get("attempts") or 0),
        reason=fields.get("reason") or None,
        detail=fields.get("detail") or None,
        result=orjson.loads(fields["result"]) if fields.get("result") else None,
        stream_id=fields.get("stream_id") or None,
        queued_at=when("queued") or "",
        sent_at=when("sent"),
        finished_at=when("finished"),
        expires_at=when("expires"),
    )


def _pairs(raw: Any) -> dict[str, str]:
    """HGETALL as a Lua script answers it (a flat list) as a dict."""
    if isinstance(raw, dict):
        return {as_str(k): as_str(v) for k, v in raw.items()}
    items = [as_str(x) for x in raw or ()]
    return dict(zip(items[::2], items[1::2], strict=True))


class CommandStatus:
    """The records: written when a command is queued, moved on by its events, read by REST."""

    def __init__(self, redis: Redis, retention_s: float) -> None:
        self.redis = redis
        self.retention_s = max(1, int(retention_s))
        self._queue = redis.register_script(_QUEUE)
        self._apply = redis.register_script(_APPLY)

    def _window(self, now: float) -> tuple[int, int]:
        """(score of now, lowest score still kept), in ms."""
        ms = int(now * 1000)
        return ms, ms - self.retention_s * 1000

    async def queue(self, rec: CommandRecord) -> str:
        """XADD ``rec`` to rd:commands and write its record; the stream id."""
        score, oldest = self._window(rec.ts)
        stream = to_fields(rec)
        record = {
            "id": rec.id,
            "robot": rec.robot,
            "action": rec.action,
            "args": _json(rec.args),
            "source": rec.source,
            "queued": repr(rec.ts),
            "expires": repr(rec.expires) if rec.expires else "",
            "attempts": 0,
        }
        sid = await self._queue(
            keys=[KEYS.commands, record_key(rec.id), index_key(rec.robot)],
            args=[
                self.retention_s,
                score,
                oldest,
                rec.id,
                len(stream),
                *_flat(stream),
                *_flat(record),
            ],
        )
        return as_str(sid)

    async def apply(self, rec: EventRecord) -> CommandOut | None:
        """Fold one outcome event into its command's record; the record afterwards (None:
        not a command event, or one older than the retention)."""
        cid = command_id_of(rec)
        if cid is None or rec.type not in _OUTCOMES or rec.ts < time.time() - self.retention_s:
            return None
        status = _status_of(rec)
        data = rec.data
        made = {  # a record from this event alone: a command the web did not queue
            "id": cid,
            "robot": rec.robot,
            "action": str(data.get("action", "")),
            "args": _json(data.get("args") or {}),
            "source": str(data.get("source", "")),
            "queued": repr(rec.ts),
            "attempts": 0,
        }
        sets: dict[str, Any] = {"event": rec.eid}
        if status == "sent":
            sets.update(sent=repr(rec.ts), attempts=1)
        else:
            sets["finished"] = repr(rec.ts)
            sets["attempts"] = int(data.get("attempts") or 0)
            if status == "acked":
                sets["result"] = _json(data.get("result"))
            else:
                sets.update(reason=str(data.get("reason", "")), detail=str(data.get("detail", "")))
        score, oldest = self._window(rec.ts)
        raw = await self._apply(
            keys=[record_key(cid), index_key(rec.robot)],
            args=[
                self.retention_s,
                score,
                oldest,
                cid,
                status,
                len(made),
                *_flat(made),
                *_flat(sets),
            ],
        )
        return command_out(_pairs(raw))

    async def get(self, robot: str, command_id: str) -> CommandOut:
        fields = cast(dict[str, str], await self.redis.hgetall(record_key(command_id)))
        if not fields or fields.get("robot") != robot or "id" not in fields:
            raise not_found("command", command_id)
        return command_out(fields)

    async def page(self, robot: str, limit: int, offset: int) -> tuple[list[CommandOut], int]:
        """The robot's commands, newest first, and how many it has (within the retention)."""
        _, oldest = self._window(time.time())
        key = index_key(robot)
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.zrevrangebyscore(key, "+inf", oldest, start=offset, num=limit)
            pipe.zcount(key, oldest, "+inf")
            ids, total = await pipe.execute()
        if not ids:
            return [], int(total)
        async with self.redis.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hgetall(record_key(as_str(cid)))
            records = await pipe.execute()
        items = [command_out(r) for r in records if r and "id" in r]
        return items, int(total)

    async def handle(self, stream: str, entries: Sequence[Entry]) -> None:
        """The consumer group's handler: every outcome event, applied once (idempotent)."""
        for sid, fields in entries:
            if fields.get("type") not in _OUTCOMES:
                continue
            try:
                rec = msgspec.convert(_event_fields(fields), EventRecord, strict=False)
            except (msgspec.ValidationError, ValueError) as exc:
                log.warning("command_event_invalid", id=sid, error=str(exc))
                continue
            await self.apply(rec)


def _event_fields(fields: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(fields)
    out["data"] = orjson.loads(fields.get("data") or "{}")
    return out


class Waiters:
    """Requests waiting for a command's outcome (``?wait=``), woken by the hub's events reader.

    A tap on rd:events: the hub reads every event once per process, so a waiting
    request needs no reader of its own. Its queue gets each event of its command.
    """

    def __init__(self) -> None:
        self._waiting: dict[str, set[asyncio.Queue[EventRecord | None]]] = {}
        self._closed = False

    @contextlib.contextmanager
    def watch(self, command_id: str) -> Iterator[asyncio.Queue[EventRecord | None]]:
        q: asyncio.Queue[EventRecord | None] = asyncio.Queue()
        if self._closed:
            q.put_nowait(None)
        self._waiting.setdefault(command_id, set()).add(q)
        try:
            yield q
        finally:
            qs = self._waiting.get(command_id)
            if qs is not None:
                qs.discard(q)
                if not qs:
                    del self._waiting[command_id]

    async def tap(self, stream: str, entries: list[Entry]) -> None:
        if not self._waiting:
            return
        for _, fields in entries:
            if fields.get("type") not in _OUTCOMES:
                continue
            try:
                rec = msgspec.convert(_event_fields(fields), EventRecord, strict=False)
            except (msgspec.ValidationError, ValueError):
                continue  # the consumer group logs it
            cid = command_id_of(rec)
            for q in self._waiting.get(cid or "", ()):
                q.put_nowait(rec)

    def close(self) -> None:
        """Shutting down: every waiting request answers what it has now."""
        self._closed = True
        for qs in self._waiting.values():
            for q in qs:
                q.put_nowait(None)


STATUS = web.AppKey("command_status", CommandStatus)
WAITERS = web.AppKey("command_waiters", Waiters)


async def wait_for_outcome(
    status: CommandStatus, waiters: Waiters, robot: str, command_id: str, wait_s: float
) -> CommandOut:
    """The command's record once it is finished, or as it is after ``wait_s``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + min(wait_s, MAX_WAIT_S)
    with waiters.watch(command_id) as events:  # before the read: nothing falls in between
        cmd = await status.get(robot, command_id)
        while cmd.status not in FINISHED:
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(min(left, RECHECK_S)):
                    rec = await events.get()
            except TimeoutError:
                cmd = await status.get(robot, command_id)
                continue
            if rec is None:  # shutting down
                break
            cmd = await status.apply(rec) or cmd
    return cmd


def setup(app: web.Application) -> None:
    """The waiters, woken at shutdown so no request waits out its ``wait``."""
    waiters = app[WAITERS] = Waiters()

    async def closing(app: web.Application) -> None:
        waiters.close()

    app.on_shutdown.append(closing)


async def command_status_ctx(app: web.Application) -> AsyncIterator[None]:
    """The records' writer for this application, the consumer group and the hub's tap
    (after the hub)."""
    s: Settings = app[SETTINGS]
    status = CommandStatus(app[REDIS], s.redis.commands_retention_s)
    app[STATUS] = status
    app[HUB].add_tap(KEYS.events, app[WAITERS].tap)
    consumer = GroupConsumer(
        lambda: connect(
            s.redis, name=f"{s.web.name}:commands", block_ms=s.web.hub_block_ms, decode=True
        ),
        [KEYS.events],
        GROUP,
        consumer_name(s),
        status.handle,
        block_ms=s.web.hub_block_ms,
        batch=200,
    )
    task = asyncio.create_task(consumer.run(), name="command-status")
    yield
    consumer.stop()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
