"""Commands to the gateway that holds their robot: ``rd:inbox:{gateway}`` streams.

The web keeps writing rd:commands as it always has; with ``[cluster]`` the
leader reads it (gateway/cluster/leader.py) and moves each robot command into
the inbox of the gateway that holds the robot (``rd:lease:{robot}``), each
gateway reads its own inbox (gateway/cluster/inbox.py), and an entry that
reached a gateway which no longer holds its robot moves on to the one that
does. One Lua script (``ROUTE``) adds the entry to its inbox and acknowledges
it where it was, so a command is in exactly one place at a time: never lost
between two streams, never in two. The script checks what the move was
decided on: the lease still names the holder read just before, the holder is
alive, and (for the leader's moves) the leader lease is still ours; otherwise
nothing happens and the caller looks again. A command that finds no holder
fails as ``robot_offline`` at once.

An entry carries how often it was moved (stream field ``hops``); after
``MAX_HOPS`` (a robot moving faster than its commands) it fails as
``robot_offline`` too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final, Literal

import structlog
from redis.asyncio import Redis

from gateway.fleet.port import FleetOutput
from gateway.metrics import Stats
from gateway.streams.writer import OUTAGE_ERRORS
from protocol import streams
from protocol.acks import Pending
from protocol.cluster import parse_holder, split_ref
from protocol.streams import CommandRecord, EventType, Level
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import as_str

log = structlog.get_logger("gateway.cluster")

__all__ = ["MAX_HOPS", "ROUTE", "Routes"]

MAX_HOPS: Final = 4
HANDOVER_WAIT_S: Final = 5.0  # a command handed over waits this long for the robot's new holder

ROUTE: Final = r"""
-- KEYS[1] the stream the entry is in (or any key: none)  KEYS[2] rd:leader
-- KEYS[3] rd:lease:{robot}  KEYS[4] rd:gateway:{holder}  KEYS[5..] streams to add it to
-- ARGV[1] group  ARGV[2] the entry's id there ('' none)  ARGV[3] our leader value ('' no check)
-- ARGV[4] the lease value it was routed by ('' no check)  ARGV[5..] the entry's fields
if ARGV[3] ~= '' and redis.call('GET', KEYS[2]) ~= ARGV[3] then return 'not_leader' end
if ARGV[4] ~= '' then
  if redis.call('GET', KEYS[3]) ~= ARGV[4] then return 'moved' end
  if redis.call('EXISTS', KEYS[4]) == 0 then return 'gone' end
end
local id = ''
for i = 5, #KEYS do
  id = redis.call('XADD', KEYS[i], '*', unpack(ARGV, 5))
end
if ARGV[2] ~= '' then
  redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
end
return id
"""

Outcome = Literal["sent", "here", "none", "not_leader"]
Fields = Mapping[bytes, bytes] | Mapping[str, Any]


def _flat(fields: Fields, hops: int) -> list[Any]:
    out: list[Any] = []
    for k, v in fields.items():
        if k not in (b"hops", "hops"):
            out += [k, v]
    return [*out, "hops", hops]


def _hops(fields: Fields) -> int:
    raw = fields.get(b"hops", fields.get("hops", 0))  # type: ignore[call-overload]
    try:
        return int(raw)
    except (TypeError, ValueError):
        return 0


class Routes:
    """Moves command entries between streams for one gateway (``name``)."""

    def __init__(self, redis: Redis, name: str, writer: FleetOutput, stats: Stats) -> None:
        self.redis = redis
        self.name = name
        self.writer = writer
        self.stats = stats
        self._route = redis.register_script(ROUTE)
        self._handovers: asyncio.Queue[tuple[str, Pending, float]] = asyncio.Queue()
        # A handed-over command whose robot came back here: run it (CommandRouter.submit)
        self.local: Callable[[CommandRecord, str], None] | None = None

    async def to_holder(
        self, fields: Fields, ref: str, robot: str, *, leader: str = "", self_ok: bool = False
    ) -> Outcome:
        """Move the entry ``ref`` (protocol.cluster.ack_ref; "" for one in no stream) to
        its robot's holder: ``sent``; ``here`` when we hold it (nothing moved, unless
        ``self_ok``: then into our own inbox); ``none`` when no live gateway holds it;
        ``not_leader`` when ``leader`` is no longer ours."""
        hops = _hops(fields)
        stream, entry = split_ref(ref) if ref else ("", "")
        for _ in range(3):
            if hops >= MAX_HOPS:
                return "none"
            value = await self.redis.get(KEYS.lease(robot))
            holder = parse_holder(value)
            if holder is None:
                return "none"
            if holder.gateway == self.name and not self_ok:
                return "here"
            target = KEYS.inbox(holder.gateway)
            keys = [
                stream or target,
                KEYS.leader,
                KEYS.lease(robot),
                KEYS.gateway(holder.gateway),
                target,
            ]
            args = [streams.COMMANDS_GROUP, entry, leader, value, *_flat(fields, hops + 1)]
            reply = await self._route(keys=keys, args=args)
            result = reply.decode() if isinstance(reply, bytes) else str(reply)
            if result == "not_leader":
                return "not_leader"
            if result == "gone":
                return "none"
            if result != "moved":
                self.stats.inc("commands", "routed")
                return "sent"
        return "none"

    async def to_all(
        self, fields: Fields, ref: str, gateways: Sequence[str], *, leader: str
    ) -> Outcome:
        """Copy the entry into every gateway's inbox, acknowledging it where it was."""
        stream, entry = split_ref(ref)
        if not gateways:
            return "none"
        keys = [stream, KEYS.leader, stream, stream, *map(KEYS.inbox, gateways)]
        args = [streams.COMMANDS_GROUP, entry, leader, "", *_flat(fields, 0)]
        reply = await self._route(keys=keys, args=args)
        result = reply.decode() if isinstance(reply, bytes) else str(reply)
        return "not_leader" if result == "not_leader" else "sent"

    async def live_gateways(self) -> list[str]:
        names = sorted(as_str(n) for n in await self.redis.smembers(KEYS.gateways))
        if not names:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for n in names:
            pipe.exists(KEYS.gateway(n))
        return [n for n, live in zip(names, await pipe.execute(), strict=True) if live]

    def fail_offline(self, rec_id: str, robot: str, action: str, ref: str, detail: str) -> None:
        self.stats.inc("commands", "failed_robot_offline")
        self.writer.event(
            EventType.COMMAND_FAILED,
            robot,
            level=Level.WARNING,
            ack=ref or None,
            data={"command": rec_id, "action": action, "reason": "robot_offline", "detail": detail},
        )

    # ---- commands a gateway held when its robot moved away -------------------

    def hand_over(self, robot: str, pending: Sequence[Pending]) -> None:
        """The robot is held elsewhere now, or soon (the gateway it went to takes its lease
        at its next attempt): its unacknowledged commands follow it."""
        until = time.monotonic() + HANDOVER_WAIT_S
        for entry in pending:
            self._handovers.put_nowait((robot, entry, until))

    async def run(self) -> None:
        """Move the handed-over commands, one by one, for as long as the gateway runs."""
        while True:
            robot, entry, until = await self._handovers.get()
            cmd = entry.command
            rec = CommandRecord(
                id=cmd.id,
                robot=robot,
                action=cmd.action,
                ts=cmd.ts,
                args=cmd.args,
                expires=entry.deadline,
                source="handover",
            )
            try:
                outcome = await self.to_holder(streams.to_fields(rec), entry.ref, robot)
            except OUTAGE_ERRORS as exc:  # Redis away: try again (it stays pending meanwhile)
                log.warning("handover_failed", robot=robot, command=cmd.id, error=str(exc))
                outcome = "none"
            if outcome == "sent":
                log.info("command_handed_over", robot=robot, command=cmd.id)
            elif outcome == "here" and self.local is not None:
                self.local(rec, entry.ref)
            elif time.monotonic() < until:  # not taken yet: look again shortly
                self._handovers.put_nowait((robot, entry, until))
                await asyncio.sleep(0.05)
            else:
                self.fail_offline(
                    cmd.id,
                    robot,
                    cmd.action,
                    entry.ref,
                    "its gateway let it go and no other took it",
                )
