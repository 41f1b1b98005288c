"""This gateway's leases in Redis: its liveness, the robots it holds, the leader lease.

A robot is held by one gateway at a time: ``rd:lease:{robot}`` (SET NX PX)
names the gateway and the robot's fencing token (``rd:fences``, incremented at
each acquisition), which the stream writer puts into every event the holder
writes about the robot (``fence``, docs/streams.md). The same script keeps the
gateway's liveness key and campaigns for (or renews) the leader lease.

Nothing here opens a connection or awaits. The stream writer carries the
script in the flush it makes anyway (``take`` gives the command when one is
due, ``done`` reads its reply): one EVALSHA renews every lease the gateway
holds each third of ``cluster.lease_ttl_s``, and acquisitions and releases go
out in the next flush, so no robot costs a round trip of its own.

A robot that reaches this gateway while another holds it waits (``acquire``):
the script leaves a ``want`` key, the holder lets the robot go at its next
renewal and closes its link (``taken``), and the next attempt here takes it;
a holder that died lets it go when its lease expires. A lease found held by
someone else at renewal (``lost``) is told to ``on_lost``: the fleet closes the
robot's link. Through a Redis outage the leases are kept: nobody can take them
then, and a lease that expired meanwhile is taken back under the same token if
no other gateway took it since.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import structlog

from gateway.metrics import Stats
from protocol.cluster import Holder, parse_holder
from robodine.redisio.keys import KEYS

log = structlog.get_logger("gateway.cluster")

__all__ = ["SCRIPT", "Leases"]

SCRIPT: Final = r"""
-- KEYS[1] rd:gateway:{me}  KEYS[2] rd:gateways  KEYS[3] rd:leader  KEYS[4] rd:leader:epoch
-- KEYS[5] rd:fences, then two per robot op: rd:lease:{robot}, rd:lease:{robot}:want
-- ARGV[1] me  ARGV[2] liveness value  ARGV[3] ttl ms  ARGV[4] 'live' or 'gone'
-- ARGV[5] leader op: 'c' campaign (take or renew), 'q' quit, '' none
-- ARGV[6] the leader value we hold, or ''; then three per robot op: op, robot, token
--   'a' acquire -> our new token, or the holder's value (the want key then names us)
--   'f' take if free -> the same, but wanting nothing from a holder
--   'r' renew   -> 1, 'taken {gateway}' (let go: a newer connection is there), 'lost {value}'
--   'x' release -> 1
-- returns {liveness ours 1/0, the leader value or '', gateways known, one result per robot op}
local me, info, px = ARGV[1], ARGV[2], ARGV[3]
local out = {}
local current = redis.call('GET', KEYS[1])
if current == false or current == info then
  if ARGV[4] == 'gone' then
    redis.call('DEL', KEYS[1])
  else
    redis.call('SET', KEYS[1], info, 'PX', px)
    redis.call('SADD', KEYS[2], me)
  end
  out[1] = 1
else
  out[1] = 0
end
local leader = redis.call('GET', KEYS[3])
if ARGV[5] == 'c' then
  if leader == false then
    leader = me .. ' ' .. redis.call('INCR', KEYS[4])
    redis.call('SET', KEYS[3], leader, 'PX', px)
  elseif leader == ARGV[6] then
    redis.call('PEXPIRE', KEYS[3], px)
  end
elseif ARGV[5] == 'q' and leader == ARGV[6] then
  redis.call('DEL', KEYS[3])
  leader = false
end
out[2] = leader or ''
out[3] = redis.call('SCARD', KEYS[2])
local mine = me .. ' '
local k = 6
for i = 7, #ARGV, 3 do
  local op, robot, token = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local lease, want = KEYS[k], KEYS[k + 1]
  k = k + 2
  local value = redis.call('GET', lease)
  local ours = mine .. token
  if op == 'a' or op == 'f' then
    -- ours under a token we do not know: a previous process of this gateway (names
    -- are unique among live gateways: the liveness key)
    if value == false or string.sub(value, 1, #mine) == mine then
      local fence = redis.call('HINCRBY', KEYS[5], robot, 1)
      redis.call('SET', lease, mine .. fence, 'PX', px)
      redis.call('DEL', want)
      out[#out + 1] = fence
    else
      if op == 'a' then
        redis.call('SET', want, me, 'PX', px)
      end
      out[#out + 1] = value
    end
  elseif op == 'r' then
    if value == ours then
      local wanted = redis.call('GET', want)
      if wanted ~= false and wanted ~= me then
        redis.call('DEL', lease)
        out[#out + 1] = 'taken ' .. wanted
      else
        redis.call('PEXPIRE', lease, px)
        out[#out + 1] = 1
      end
    elseif value == false and redis.call('HGET', KEYS[5], robot) == token then
      redis.call('SET', lease, ours, 'PX', px)
      out[#out + 1] = 1
    else
      out[#out + 1] = 'lost ' .. (value or '')
    end
  else
    if value == ours then
      redis.call('DEL', lease)
    end
    out[#out + 1] = 1
  end
end
return out
"""
SHA: Final = hashlib.sha1(SCRIPT.encode(), usedforsecurity=False).hexdigest()

RETRY_S: Final = 0.2  # a robot waiting for its lease asks again this often

# None: acquired; else the gateway that keeps the robot ("": Redis did not answer in time)
Done = Callable[[str | None], None]


@dataclass
class _Wait:
    until: float  # give up then (the writer's loop clock), once tried
    done: list[Done] = field(default_factory=list)
    holder: str = ""  # who held the robot at the last attempt ("": no answer from Redis)
    takeover: bool = True  # ask the holder to let go (a newer connection is here)
    tried: bool = False


class Leases:
    """``name``: this gateway; ``info``: its liveness value (JSON describing it, fixed for
    the process's life: another process with the same name has another one)."""

    scripts: tuple[str, ...] = (SCRIPT,)

    def __init__(self, name: str, info: str, ttl_s: float, stats: Stats) -> None:
        self.name = name
        self.info = info
        self.ttl_s = ttl_s
        self.stats = stats
        self.held: dict[str, int] = {}  # robot -> our token
        self.fences: dict[str, int] = {}  # robot -> the last token we held it under
        self.leader: Holder | None = None  # as the last renewal found it
        self.gateways = 1  # gateways known (rd:gateways), as the last script found them
        self.on_lost: Callable[[str, str], None] | None = None  # robot, gateway holding it now
        self.wake: Callable[[], None] = lambda: None  # the writer's: something to send now
        self.campaign = True  # stand for leader (cleared on the way out)
        self._waiting: dict[str, _Wait] = {}
        self._releasing: dict[str, int] = {}  # robot -> token
        self._sent: list[tuple[str, str, int]] = []  # (op, robot, token) in flight
        self._sent_at = 0.0
        self._next_renewal = 0.0
        self._next_retry = 0.0
        self._leader_until = 0.0  # our leadership ends then unless renewed (local clock)
        self._gone = False  # stopping: release everything, liveness deleted
        self._told_clash = False
        self._keys: dict[str, tuple[str, str]] = {}  # robot -> its lease and want keys

    # ---- what the gateway asks --------------------------------------------

    def acquire(
        self, robot: str, done: Done, wait_s: float, now: float, *, takeover: bool = True
    ) -> None:
        """Take ``robot``'s lease; ``done(None)`` once held, ``done(holder)`` if after
        ``wait_s`` (and one attempt) another gateway still holds it. At once when we hold it
        already. ``takeover``: ask the holder to let it go; else only take it if free."""
        if robot in self._releasing:  # let go of, not yet sent: keep it instead
            self.held[robot] = self._releasing.pop(robot)
        if robot in self.held:
            done(None)
            return
        wait = self._waiting.get(robot)
        if wait is None:
            wait = self._waiting[robot] = _Wait(now + wait_s, takeover=takeover)
        wait.takeover = wait.takeover or takeover
        wait.done.append(done)
        self._next_retry = 0.0
        self.wake()

    def release(self, robot: str) -> None:
        token = self.held.pop(robot, None)
        if token is not None:
            self._releasing[robot] = token
            self.wake()

    def holds(self, robot: str) -> bool:
        return robot in self.held

    def fence(self, robot: str) -> int | None:
        """The token of our latest hold on ``robot`` (stamped on its events), if any."""
        return self.fences.get(robot)

    def epoch(self, now: float) -> int:
        """Our leader epoch while we lead (0 when we do not): the leadership ends at the
        local deadline of the last renewal, before its lease can expire in Redis."""
        leader = self.leader
        if leader is None or leader.gateway != self.name or now >= self._leader_until:
            return 0
        return leader.token

    def stop(self) -> None:
        """On the way out: every lease released, the leadership given up, the liveness
        key deleted, in the writer's last flush."""
        self._gone = True
        self.campaign = False
        for robot in list(self.held):
            self.release(robot)
        for wait in self._waiting.values():
            wait.until = -math.inf
        self.wake()

    # ---- the writer's side --------------------------------------------------

    def due_in(self, now: float) -> float | None:
        """Seconds until the script is due (0: now)."""
        if self._sent:
            return None  # one in flight
        if self._gone:
            return 0.0 if (self._releasing or self._waiting or self._next_renewal >= 0) else None
        if self._releasing:
            return 0.0
        due = self._next_renewal - now
        if self._waiting:
            due = min(due, self._next_retry - now)
        return max(0.0, due)

    def take(self, now: float) -> tuple[Any, ...] | None:
        """The EVALSHA to send in this flush, if one is due."""
        due = self.due_in(now)
        if due is None or due > 0:
            return None
        self._give_up_waits(now)
        renew = now >= self._next_renewal or self._gone
        ops: list[tuple[str, str, int]] = []
        if renew and not self._gone:
            ops += [("r", robot, token) for robot, token in self.held.items()]
        ops += [("x", robot, token) for robot, token in self._releasing.items()]
        self._releasing = {}
        if not self._gone:
            for robot, wait in self._waiting.items():
                wait.tried = True
                ops.append(("a" if wait.takeover else "f", robot, 0))
        if not renew and not ops:
            return None
        leader = self.leader
        ours = leader is not None and leader.gateway == self.name
        leader_op = "c" if self.campaign and renew else ("q" if self._gone and ours else "")
        keys = [
            KEYS.gateway(self.name),
            KEYS.gateways,
            KEYS.leader,
            KEYS.leader_epoch,
            KEYS.fences,
        ]
        argv: list[Any] = [
            self.name,
            self.info,
            int(self.ttl_s * 1000),
            "gone" if self._gone else "live",
            leader_op,
            f"{leader.gateway} {leader.token}" if ours and leader is not None else "",
        ]
        names = self._keys
        for op, robot, token in ops:
            pair = names.get(robot)
            if pair is None:
                pair = names[robot] = (KEYS.lease(robot), KEYS.want(robot))
            keys += pair
            argv += (op, robot, token)
        self._sent = ops
        self._sent_at = now
        if renew:
            self._next_renewal = -1.0 if self._gone else now + self.ttl_s / 3
        if self._waiting:
            self._next_retry = now + RETRY_S
        return ("EVALSHA", SHA, len(keys), *keys, *argv)

    def done(self, reply: Sequence[Any], now: float) -> None:
        """The script's reply: acquisitions told, losses told, the leader noted."""
        ops, self._sent = self._sent, []
        live, leader, gateways, *results = reply
        self.gateways = max(1, int(gateways))
        if not live and not self._told_clash:
            self._told_clash = True
            log.error(
                "gateway_name_in_use",
                gateway=self.name,
                hint="another live gateway has this gateway.name; give each its own",
            )
        self._note_leader(parse_holder(leader or None), now)
        for (op, robot, _), result in zip(ops, results, strict=True):
            if op in ("a", "f"):
                self._acquired(robot, result)
            elif op == "r" and result != 1:
                self._lost(robot, result)

    def failed(self, now: float) -> None:
        """The flush failed (an outage): releases go again; waits and renewals retry."""
        ops, self._sent = self._sent, []
        for op, robot, token in ops:
            if op == "x":
                self._releasing.setdefault(robot, token)
        if self._next_renewal >= 0:
            self._next_renewal = min(self._next_renewal, now + 0.1)

    # ---- replies --------------------------------------------------------------

    def _note_leader(self, leader: Holder | None, now: float) -> None:
        before = self.leader
        self.leader = leader
        if leader is not None and leader.gateway == self.name:
            self._leader_until = self._sent_at + self.ttl_s * 0.9
        if leader != before:
            log.info(
                "cluster_leader",
                leader=leader.gateway if leader else None,
                epoch=leader.token if leader else None,
                us=leader is not None and leader.gateway == self.name,
            )

    def _acquired(self, robot: str, result: Any) -> None:
        wait = self._waiting.get(robot)
        if isinstance(result, int):
            self.held[robot] = self.fences[robot] = result
            self.stats.inc("leases", "acquired")
            if wait is not None:
                del self._waiting[robot]
                for done in wait.done:
                    done(None)
            else:  # given up meanwhile: not ours to keep
                self.release(robot)
            return
        holder = parse_holder(result)
        if wait is not None and holder is not None:  # it lets go at its next renewal
            wait.holder = holder.gateway

    def _give_up_waits(self, now: float) -> None:
        for robot, wait in list(self._waiting.items()):
            if wait.tried and now >= wait.until:
                del self._waiting[robot]
                self.stats.inc("leases", "wait_expired")
                for done in wait.done:
                    done(wait.holder)

    def _lost(self, robot: str, result: Any) -> None:
        if self.held.pop(robot, None) is None:
            return  # released meanwhile
        text = result.decode() if isinstance(result, bytes) else str(result)
        why, _, rest = text.partition(" ")
        holder = rest if why == "taken" else (h.gateway if (h := parse_holder(rest)) else "")
        self.stats.inc("leases", why)
        log.info("robot_lease_lost", robot=robot, reason=why, holder=holder or None)
        if self.on_lost is not None:
            self.on_lost(robot, holder)
