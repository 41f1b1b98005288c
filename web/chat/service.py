"""Chat rooms over Redis streams: history, live messages, presence, event relay.

- Messages: XADD ``rd:chat:{room}`` (MAXLEN ~ chat.maxlen); history on join is
  XREVRANGE COUNT chat.history (never KEYS). Every web process reads the room
  streams in its hub, so members on different processes see the same room.
- The sender is the logged-in user, never a field of the message.
- Presence: a sorted set ``rd:presence:{room}`` of connections scored by
  expiry, refreshed by each process every ttl/3, so a crashed process's
  members vanish after ``presence_ttl_s``; every change is announced on the
  ``rd:presence`` stream and each process pushes the room's member list to
  its local members.
- Relay: robot events matching a ``[[chat.relay]]`` rule become a message from
  ``relay_username``; ``SET NX rd:relay:{eid}`` makes exactly one process post it.
- Rooms: the config's ``[[chat.rooms]]``, plus those admins add through the API
  (SQL, web/chat/rooms.py). A change to those is announced on ``rd:chatrooms``;
  every process then reads them again, gives its hub reader the new rooms'
  streams, and ends the sockets of a room that was archived (4004).
- Rate limit: one bucket per user in Redis (``rd:chatrate:{user}``, a GCRA script on
  Redis's clock), so a user connected to several web processes has one allowance.
"""

from __future__ import annotations

import asyncio
import time
import unicodedata
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final

import msgspec
import structlog
from msgspec import Struct
from redis.asyncio import Redis
from redis.exceptions import RedisError
from redis.typing import EncodableT, FieldT

from config.settings import ChatRelay, ChatRoom, ChatSettings
from protocol.streams import EventRecord
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import Entry, as_str, entries_of, stream_info
from robodine.redisio.streamid import StreamId
from web.feeds.frames import Frame, frame
from web.feeds.hub import Hub
from web.feeds.subscription import Delivery, Filter, Subscription
from web.feeds.topic import Start, Topic, TopicContext, decode_entries, resume_or_snapshot
from web.http.schemas import doc
from web.security import AuthUser, iso

log = structlog.get_logger("web.chat")

CLOSE_ROOM_ARCHIVED: Final = 4004
# GCRA: the key holds the theoretical arrival time (ms, Redis's clock) of the next
# message; a post is allowed while it is at most burst - 1 intervals ahead of now.
# Returns 0 (allowed) or the milliseconds until the next post is.
RATE_SCRIPT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval, burst = tonumber(ARGV[1]), tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local wait = tat + interval - burst * interval - now
if wait > 0 then return wait end
redis.call('SET', KEYS[1], tat + interval, 'PX', tat + interval - now + 1000)
return 0
"""
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class RelayedEvent(Struct, kw_only=True):
    """The robot event a relayed message tells of, so a client can word it in its language."""

    id: Annotated[str, doc("the event's eid")]
    type: Annotated[str, doc("the event's type", "robot.state")]
    level: Annotated[str, doc("the event's level", "alarm")]
    robot: Annotated[str, doc("the robot it is about", "serve-1")]
    data: Annotated[dict[str, Any], doc("the event's data")]


class Message(Struct, tag_field="type", tag="message", kw_only=True):
    id: Annotated[str, doc("the message's stream id")]
    room: Annotated[str, doc("the room")]
    username: Annotated[str, doc("who posted it (their login, never a field of what they sent)")]
    content: Annotated[str, doc("the text")]
    timestamp: Annotated[str, doc("when (ISO 8601 UTC)")]
    role: Annotated[str, doc("the poster's role")] = ""
    system: Annotated[bool, doc("posted by the relay (a robot event), not a person")] = False
    event: Annotated[
        RelayedEvent | None,
        doc("the relay's: the robot event that `content` tells in English (null: a person's)"),
    ] = None


class History(Struct, tag_field="type", tag="history", kw_only=True):
    room: Annotated[str, doc("the room")]
    id: Annotated[str, doc("cursor: the newest id the history covers")]
    session: Annotated[str, doc("changes when the server process restarts")]
    resumed: Annotated[
        bool, doc("true: `since` was honoured, the missed messages follow one by one")
    ]
    messages: Annotated[
        list[Message], doc("the last `chat.history` messages, oldest first (empty when resumed)")
    ]


class Member(Struct, kw_only=True):
    username: Annotated[str, doc("who")]
    role: Annotated[str, doc("their role")]


class Presence(Struct, tag_field="type", tag="presence", kw_only=True):
    room: Annotated[str, doc("the room")]
    users: Annotated[list[Member], doc("who is in the room now (on any web process)")]


CHAT_FRAMES = History | Message | Presence


class ChatPost(Struct, forbid_unknown_fields=True, kw_only=True):
    """Client -> server: a message to post in the room (the sender is the token's user)."""

    content: Annotated[
        str,
        doc(
            "at most `chat.max_chars` characters, not blank, no control characters but "
            "newline and tab",
            "two soups ready",
        ),
    ]


def message_from(room: str, sid: str, fields: dict[str, str]) -> Message:
    try:
        ts = float(fields.get("ts", 0))
    except ValueError:
        ts = 0.0
    return Message(
        id=sid,
        room=room,
        username=fields.get("username", ""),
        content=fields.get("content", ""),
        timestamp=iso(ts),
        role=fields.get("role", ""),
        system=fields.get("system") == "1",
        event=_relayed(fields.get("record")),
    )


_decode_relayed = msgspec.json.Decoder(RelayedEvent).decode


def _relayed(raw: str | None) -> RelayedEvent | None:
    if not raw:
        return None
    try:
        return _decode_relayed(raw)
    except msgspec.DecodeError:  # a damaged field costs the wording, not the message
        return None


def check_content(content: str, max_chars: int) -> str:
    """The content as stored, or ValueError saying what is wrong with it."""
    content = content.replace("\r\n", "\n")
    if not content.strip():
        raise ValueError("content is empty")
    if len(content) > max_chars:
        raise ValueError(f"content is longer than {max_chars} characters")
    for ch in content:
        if ch in "\n\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cs") or ch in _BIDI:
            raise ValueError(f"content contains control character U+{ord(ch):04X}")
    return content


class RoomTopic(Topic):
    """One room as a hub topic (not in the /ws/{topic} registry: /ws/chat/{room} serves it)."""

    delivery = Delivery.RELIABLE
    summary = "A chat room."
    frame_types = CHAT_FRAMES
    resume_after_reset = True  # the history frame holds only chat.history messages

    def __init__(self, room: ChatRoom, history: int, session: str) -> None:
        self.room = room
        self.name = f"chat:{room.name}"  # type: ignore[misc]
        self.stream = KEYS.chat(room.name)  # type: ignore[misc]
        self.history = history
        self.session = session

    async def start(self, ctx: TopicContext, flt: Filter, since: StreamId | None) -> Start:
        info, resumable = await resume_or_snapshot(ctx, self.stream, since)
        messages: list[Message] = []
        cursor = since if resumable and since is not None else info.last
        if not resumable and self.history:
            raw = entries_of(await ctx.redis.xrevrange(self.stream, count=self.history))
            messages = [message_from(self.room.name, i, f) for i, f in reversed(raw)]
            if messages:
                cursor = max(cursor, StreamId.parse(messages[-1].id))
        hist = History(
            room=self.room.name,
            id=str(cursor),
            session=self.session,
            resumed=resumable,
            messages=messages,
        )
        return Start(cursor, frame(hist, id=cursor), resumed=resumable)

    async def frames(self, ctx: TopicContext, entries: Sequence[Entry]) -> list[Frame]:
        return [
            frame(message_from(self.room.name, sid, f), id=StreamId.parse(sid))
            for sid, f in entries
        ]


@dataclass(eq=False)
class Connection:
    room: str
    user: AuthUser
    sub: Subscription
    conn_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def member(self) -> str:
        return f"{self.user.username}|{self.user.role}|{self.conn_id}"


LoadRooms = Callable[[], Awaitable[list[ChatRoom]]]


class ChatService:
    def __init__(
        self,
        redis: Redis,
        settings: ChatSettings,
        hub: Hub,
        session: str,
        *,
        load_rooms: LoadRooms | None = None,
    ) -> None:
        self.redis = redis
        self.settings = settings
        self.hub = hub
        self.session = session
        self.load_rooms = load_rooms  # the rooms added through the API (not archived)
        self.config_rooms = frozenset(r.name for r in settings.rooms)
        self.rooms = {r.name: RoomTopic(r, settings.history, session) for r in settings.rooms}
        self._rate = redis.register_script(RATE_SCRIPT)
        self._local: dict[str, set[Connection]] = {name: set() for name in self.rooms}
        self._stopping = False

    def stop(self) -> None:
        self._stopping = True  # see Hub.stop: a cancelled Redis call may still return

    async def rate_wait(self, username: str) -> float:
        """0 when ``username`` may post now (the post is counted), else the seconds until
        it may: ``chat.rate_per_s`` with bursts of ``chat.burst``, over every web process."""
        interval = max(1, round(1000 / self.settings.rate_per_s))
        wait = await self._rate(
            keys=[KEYS.chatrate_prefix + username], args=[interval, self.settings.burst]
        )
        return int(wait) / 1000

    async def start(self) -> None:
        """The API's rooms as well, before the hub reader is made (``streams``)."""
        if self.load_rooms is not None:
            for room in await self.load_rooms():
                if room.name not in self.config_rooms:
                    self.rooms[room.name] = RoomTopic(room, self.settings.history, self.session)
                    self._local.setdefault(room.name, set())

    def streams(self) -> list[str]:
        return [t.stream for t in self.rooms.values()] + [KEYS.presence, KEYS.chatrooms]

    def attach(self, hub: Hub) -> None:
        hub.add_tap(KEYS.presence, self._on_presence)
        hub.add_tap(KEYS.chatrooms, self._on_rooms)

    # ---- rooms added through the API --------------------------------------------

    async def announce_rooms(self, name: str, change: str) -> None:
        """Tell every process (this one at once) that the API's rooms changed."""
        await self.sync_rooms()
        try:
            await self.redis.xadd(
                KEYS.chatrooms, {"room": name, "change": change}, maxlen=1000, approximate=True
            )
        except RedisError as exc:  # the others see it when they next read the rooms
            log.warning("chat_rooms_announce_failed", room=name, error=str(exc))

    async def _on_rooms(self, stream: str, entries: list[Entry]) -> None:
        await self.sync_rooms()

    async def sync_rooms(self) -> None:
        """Read the API's rooms again: new ones get a stream in the hub, changed ones their
        title and roles, archived ones end their sockets."""
        if self.load_rooms is None:
            return
        wanted = {r.name: r for r in await self.load_rooms() if r.name not in self.config_rooms}
        for name in [n for n in self.rooms if n not in self.config_rooms and n not in wanted]:
            self.rooms.pop(name)
            for conn in list(self._local.get(name, ())):
                conn.sub.end(CLOSE_ROOM_ARCHIVED, "the room was archived")
            log.info("chat_room_archived", room=name)
        for name, room in wanted.items():
            topic = self.rooms.get(name)
            if topic is not None:
                topic.room = room  # a new title or roles; the stream is the same
                continue
            topic = self.rooms[name] = RoomTopic(room, self.settings.history, self.session)
            self._local.setdefault(name, set())
            self.hub.add_stream("chat", topic.stream, await self.cursor(name))
            log.info("chat_room_opened", room=name)

    # ---- presence -------------------------------------------------------------

    async def join(self, conn: Connection) -> None:
        self._local.setdefault(conn.room, set()).add(conn)
        await self._announce(conn, "join", add=True)

    async def leave(self, conn: Connection) -> None:
        self._local.get(conn.room, set()).discard(conn)
        try:
            await self._announce(conn, "leave", add=False)
        except RedisError as exc:  # it expires by itself
            log.warning("presence_leave_failed", room=conn.room, error=str(exc))

    async def _announce(self, conn: Connection, action: str, *, add: bool) -> None:
        key = KEYS.presence_prefix + conn.room
        pipe = self.redis.pipeline(transaction=False)
        if add:
            pipe.zadd(key, {conn.member: time.time() + self.settings.presence_ttl_s})
        else:
            pipe.zrem(key, conn.member)
        pipe.xadd(
            KEYS.presence,
            {"room": conn.room, "username": conn.user.username, "action": action},
            maxlen=1000,
            approximate=True,
        )
        await pipe.execute()

    async def members(self, room: str) -> list[Member]:
        raw = await self.redis.zrangebyscore(KEYS.presence_prefix + room, time.time(), "+inf")
        seen: dict[str, Member] = {}
        for m in raw:
            name, role, _ = as_str(m).split("|", 2)
            seen.setdefault(name, Member(username=name, role=role))
        return sorted(seen.values(), key=lambda m: m.username)

    async def _on_presence(self, stream: str, entries: list[Entry]) -> None:
        rooms = {f.get("room", "") for _, f in entries} & {r for r, c in self._local.items() if c}
        for room in rooms:
            f = frame(Presence(room=room, users=await self.members(room)))
            for conn in list(self._local[room]):
                conn.sub.notice(f, "presence")

    async def keep_alive(self) -> None:
        """Refresh local members' scores; drop expired ones (any process's) and say so."""
        interval = self.settings.presence_ttl_s / 3
        while not self._stopping:
            await asyncio.sleep(interval)
            try:
                await self._refresh_presence()
            except RedisError as exc:
                log.warning("presence_refresh_failed", error=str(exc))

    async def _refresh_presence(self) -> None:
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        for room, conns in self._local.items():
            if conns:
                pipe.zadd(
                    KEYS.presence_prefix + room,
                    {c.member: now + self.settings.presence_ttl_s for c in conns},
                )
        rooms = list(self.rooms)
        for room in rooms:
            pipe.zremrangebyscore(KEYS.presence_prefix + room, "-inf", now)
        results = await pipe.execute()
        removed = results[-len(rooms) :] if rooms else []
        pipe = self.redis.pipeline(transaction=False)
        expired = [room for room, n in zip(rooms, removed, strict=True) if n]
        for room in expired:
            pipe.xadd(
                KEYS.presence,
                {"room": room, "username": "", "action": "expired"},
                maxlen=1000,
                approximate=True,
            )
        if expired:
            await pipe.execute()

    # ---- messages ---------------------------------------------------------------

    def can_read(self, room: str, user: AuthUser) -> bool:
        topic = self.rooms.get(room)  # None: archived meanwhile
        return topic is not None and str(user.role) in topic.room.read_roles

    def can_write(self, room: str, user: AuthUser) -> bool:
        topic = self.rooms.get(room)
        return topic is not None and str(user.role) in topic.room.write_roles

    async def post(
        self,
        room: str,
        username: str,
        role: str,
        content: str,
        *,
        system: bool = False,
        event: EventRecord | None = None,
    ) -> str:
        fields: dict[FieldT, EncodableT] = {
            "username": username,
            "content": content,
            "ts": time.time(),
            "role": role,
            "system": int(system),
        }
        if event is not None:
            fields["event"] = event.eid
            record = RelayedEvent(
                id=event.eid,
                type=event.type,
                level=str(event.level),
                robot=event.robot,
                data=event.data,
            )
            fields["record"] = msgspec.json.encode(record)
        sid = await self.redis.xadd(
            KEYS.chat(room), fields, maxlen=self.settings.maxlen, approximate=True
        )
        return as_str(sid)

    # ---- relay of robot events ----------------------------------------------------

    async def relay(self, stream: str, entries: list[Entry]) -> None:
        if not self.settings.relay:
            return
        for _, rec in decode_entries(entries, EventRecord, stream):
            for rule in self.settings.relay:
                if _matches(rule, rec) and await self.redis.set(
                    KEYS.relay_prefix + rec.eid,
                    rule.room,
                    nx=True,
                    ex=86400,
                ):
                    await self.post(
                        rule.room,
                        self.settings.relay_username,
                        "system",
                        describe(rec),
                        system=True,
                        event=rec,
                    )

    async def cursor(self, room: str) -> StreamId:
        return (await stream_info(self.redis, KEYS.chat(room))).last


def _matches(rule: ChatRelay, rec: EventRecord) -> bool:
    if rule.levels and str(rec.level) not in rule.levels:
        return False
    if rule.robots and rec.robot not in rule.robots:
        return False
    if rule.types:
        return any(
            rec.type == t or (t.endswith("*") and rec.type.startswith(t[:-1])) for t in rule.types
        )
    return True


def _word(state: Any) -> str:
    """A state id as a word: ``en_route`` -> en route, ``estop`` -> e-stop."""
    text = str(state if state not in (None, "") else "?")
    return "e-stop" if text == "estop" else text.replace("_", " ")


def _details(data: Any) -> str:
    """What a robot reported, as words: ``(side left, battery 18)``; nothing when empty."""
    if not isinstance(data, dict):
        return ""
    parts = [
        f"{_word(k)} {_word(v) if isinstance(v, str) else v}"
        for k, v in data.items()
        if v is not None and v != "" and not isinstance(v, dict | list)
    ]
    return f" ({', '.join(parts)[:200]})" if parts else ""


def describe(rec: EventRecord) -> str:
    """One line a person can read, from an event record (clients that know the language
    they show word it themselves, from the message's ``event``)."""
    d = rec.data
    who = rec.robot or rec.src or "gateway"
    if rec.type == "robot.connection":
        text = f"{who}: connection {_word(d.get('previous'))} → {_word(d.get('state'))}"
        if d.get("reason"):
            text += f" ({_word(d['reason'])})"
    elif rec.type == "robot.state":
        text = f"{who}: {_word(d.get('previous'))} → {_word(d.get('state'))}"
        if d.get("task"):
            text += f" (task {d['task']})"
    elif rec.type == "command.failed":
        reason = _word(d.get("reason") or "unknown reason")
        text = f"{who}: command {_word(d.get('action'))} failed: {reason}"
        if d.get("detail"):
            text += f" ({d['detail']})"
    elif rec.type == "robot.event" and d.get("name"):
        text = f"{who}: {_word(d['name'])}{_details(d.get('data'))}"
    elif rec.type == "robot.transition_refused":
        text = f"{who}: refused {_word(d.get('from'))} → {_word(d.get('to'))}"
    else:
        text = f"{who}: {rec.type}{_details(d)}"
    return f"{str(rec.level).capitalize()} · {text}"
