"""Commands from rd:commands to robots: validate, deliver, await the ack, resend, give up.

Every command ends in exactly one outcome event (command.acked or
command.failed) written together with the XACK of its rd:commands entry, so
an outcome is never lost and a command is never silently dropped. A command
id seen before is acknowledged in the stream but not sent again, which makes
redelivery after a crash (or a duplicate from the order outbox) harmless.
"""

from __future__ import annotations

import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

import structlog

from config.settings import CommandSettings
from gateway.fleet.port import FleetOutput
from gateway.fleet.session import RobotSession
from gateway.metrics import Stats
from protocol.acks import Pending
from protocol.messages import Ack, Command
from protocol.streams import CommandRecord, EventType, Level
from protocol.vocabulary import ACTIONS_BY_KIND, CommandAction, ErrorCode

log = structlog.get_logger("gateway.commands")

_REMEMBERED = 10_000  # finished command ids kept for de-duplication


class CommandRouter:
    def __init__(
        self,
        sessions: Mapping[str, RobotSession],
        writer: FleetOutput,
        settings: CommandSettings,
        stats: Stats,
    ) -> None:
        self.sessions = sessions
        self.writer = writer
        self.settings = settings
        self.stats = stats
        self._finished: OrderedDict[str, None] = OrderedDict()
        # Told every outcome: (command id, robot, ok, reason). The dispatcher listens.
        self.on_outcome: Callable[[str, str, bool, str], None] | None = None

    def send(
        self, robot: str, action: CommandAction, args: dict[str, Any], now: float
    ) -> str | None:
        """A command of the gateway's own (the dispatcher's): no stream entry to ack.

        Returns its id, or None when it cannot be delivered (the reason is recorded).
        """
        rec = CommandRecord(
            id=uuid.uuid4().hex, robot=robot, action=action, ts=now, args=args, source="dispatcher"
        )
        refused = self._refusal(rec, self.sessions.get(robot), now)
        self._take(rec, "", now, 0.0)  # sends it, or records why not
        return None if refused else rec.id

    def submit(self, rec: CommandRecord, ref: str, now: float, *, grace: float = 0.0) -> None:
        """Take one command read from rd:commands (``ref`` is its entry id).

        ``grace`` > 0 (commands recovered after a gateway restart): a robot that
        is offline gets that long to reconnect before the command fails, since
        the robots were away because the gateway was. A robot the previous
        gateway left connected (``expected_until``, Fleet.expect_back) gets the
        same until then, whenever its command was written.
        """
        session = self.sessions.get(rec.robot)
        if session is not None and session.expected_until > now:
            grace = max(grace, session.expected_until - now)
        self._take(rec, ref, now, grace)

    def _take(self, rec: CommandRecord, ref: str, now: float, grace: float) -> None:
        session = self.sessions.get(rec.robot)
        if rec.id in self._finished or (session is not None and rec.id in session.pending):
            self.stats.inc("commands", "duplicate")
            self.writer.event(
                EventType.COMMAND_DUPLICATE,
                rec.robot,
                ack=ref,
                data={"command": rec.id, "action": rec.action},
            )
            return
        reason = self._refusal(rec, session, now)
        waits = reason == "robot_offline" and grace > 0
        if (reason is not None and not waits) or session is None:
            self._fail(rec.id, rec.robot, rec.action, ref, reason or "unknown_robot", attempts=0)
            return
        command = Command(
            robot=rec.robot, ts=now, id=rec.id, action=CommandAction(rec.action), args=rec.args
        )
        # Attempts run out after max_attempts ack timeouts; the deadline is
        # the command's own expiry, which also bounds a robot that is away.
        deadline = rec.expires or now + self.settings.ttl_s
        if waits:  # sent by resend_all when the robot says hello, or fails as robot_offline
            session.pending.add(command, ref, now, min(deadline, now + grace))
            return
        session.pending.add(command, ref, now, deadline)
        assert session.link is not None  # checked by _refusal
        session.link.send(command)
        self.stats.inc("commands", "sent")
        self.writer.event(
            EventType.COMMAND_SENT,
            rec.robot,
            data={"command": rec.id, "action": rec.action, "args": rec.args, "source": rec.source},
        )

    def _refusal(self, rec: CommandRecord, session: RobotSession | None, now: float) -> str | None:
        if session is None:
            return "unknown_robot"
        if rec.action not in CommandAction.__members__.values():
            return "unknown_action"
        if CommandAction(rec.action) not in ACTIONS_BY_KIND[session.kind]:
            return "unsupported_for_kind"
        if rec.expires and now > rec.expires:
            return "expired"
        if session.link is None:
            return "robot_offline"
        return None

    def acked(self, session: RobotSession, ack: Ack) -> None:
        entry = session.pending.ack(ack.id)
        if entry is None:
            self.stats.inc("commands", "stray_ack")  # late ack of a command already decided
            return
        self._remember(ack.id)
        cmd = entry.command
        if self.on_outcome is not None:
            self.on_outcome(cmd.id, session.id, ack.ok, ack.reason or "")
        if ack.ok:
            self.stats.inc("commands", "acked")
            paused = PAUSED_AFTER.get(CommandAction(cmd.action))
            if paused is not None:  # the state stays what it was: the snapshot says paused
                self.writer.snapshot(session.id, paused=int(paused))
            self.writer.event(
                EventType.COMMAND_ACKED,
                session.id,
                ack=entry.ref,
                data={
                    "command": cmd.id,
                    "action": cmd.action,
                    "attempts": cmd.attempt,
                    "result": ack.data,
                },
            )
        else:
            self._fail(
                cmd.id,
                session.id,
                cmd.action,
                entry.ref,
                refusal_reason(ack.reason),
                detail=ack.reason or "",
                remember=False,
                attempts=cmd.attempt,
            )

    def tick(self, session: RobotSession, now: float) -> None:
        resend, expired = session.pending.due(now, connected=session.link is not None)
        for entry in resend:
            self._resend(session, entry)
        for entry in expired:
            reason = "timeout" if session.link is not None else "robot_offline"
            self._fail(
                entry.command.id,
                session.id,
                entry.command.action,
                entry.ref,
                reason,
                detail=f"no ack after {entry.command.attempt} attempt(s)",
                attempts=entry.command.attempt,
            )
            if self.on_outcome is not None:
                self.on_outcome(entry.command.id, session.id, False, reason)

    def reconnected(self, session: RobotSession, now: float) -> None:
        for entry in session.pending.resend_all(now):
            self._resend(session, entry)

    def _resend(self, session: RobotSession, entry: Pending) -> None:
        if session.link is not None:
            session.link.send(entry.command)
            self.stats.inc("commands", "resent")

    def _fail(
        self,
        cid: str,
        robot: str,
        action: str,
        ref: str,
        reason: str,
        *,
        detail: str = "",
        remember: bool = True,
        attempts: int,
    ) -> None:
        if remember:
            self._remember(cid)
        self.stats.inc("commands", f"failed_{reason}")
        data: dict[str, Any] = {
            "command": cid,
            "action": action,
            "reason": reason,
            "attempts": attempts,  # attempts made (0: refused before any)
        }
        if detail:
            data["detail"] = detail
        self.writer.event(EventType.COMMAND_FAILED, robot, level=Level.WARNING, ack=ref, data=data)

    def _remember(self, cid: str) -> None:
        self._finished[cid] = None
        if len(self._finished) > _REMEMBERED:
            self._finished.popitem(last=False)


_CODES = frozenset(ErrorCode)
# A pause leaves the robot's state as it was (en_route, idle ...); rd:robot:{id} keeps
# `paused` from the acknowledged pause to the acknowledged resume or release.
PAUSED_AFTER: Mapping[CommandAction, bool] = {
    CommandAction.PAUSE: True,
    CommandAction.RESUME: False,
    CommandAction.RELEASE: False,
}


def refusal_reason(detail: str | None) -> str:
    """A refusal's reason: ``refused``, or the error code its detail starts with
    (``unsupported_version: ...``), so a client can tell why without parsing text."""
    code = (detail or "").partition(":")[0]
    return code if code in _CODES else "refused"
