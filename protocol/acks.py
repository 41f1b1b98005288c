"""Which commands await an ``ack``, and when to resend or give up.

Pure bookkeeping for one robot: the caller passes ``now`` and acts on what
``due`` returns. A resent command keeps its id and raises ``attempt``; robots
must treat a repeated id as the same command (docs/protocol.md, section Commands).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from protocol.messages import Command

__all__ = ["Pending", "PendingCommands"]


@dataclass(slots=True)
class Pending:
    command: Command
    ref: str  # where the command came from (its rd:commands entry id)
    deadline: float  # give up after this
    next_due: float  # resend at this time if still unacknowledged


class PendingCommands:
    def __init__(self, ack_timeout: float, max_attempts: int) -> None:
        self.ack_timeout = ack_timeout
        self.max_attempts = max_attempts
        self._pending: dict[str, Pending] = {}

    def __len__(self) -> int:
        return len(self._pending)

    def __contains__(self, command_id: object) -> bool:
        return command_id in self._pending

    def add(self, command: Command, ref: str, now: float, deadline: float | None = None) -> Pending:
        if deadline is None:
            deadline = now + self.ack_timeout * self.max_attempts
        entry = Pending(command, ref, deadline, now + self.ack_timeout)
        self._pending[command.id] = entry
        return entry

    def ack(self, command_id: str) -> Pending | None:
        return self._pending.pop(command_id, None)

    def all(self) -> list[Pending]:
        return list(self._pending.values())

    def drain(self) -> list[Pending]:
        """Everything pending, removed (handed to another gateway)."""
        out, self._pending = list(self._pending.values()), {}
        return out

    def due(self, now: float, *, connected: bool = True) -> tuple[list[Pending], list[Pending]]:
        """Return (to resend, expired); expired entries are removed.

        While the robot is disconnected nothing is resent, but deadlines still
        run: a command is never kept forever for a robot that does not return.
        """
        resend: list[Pending] = []
        expired: list[Pending] = []
        for cid, entry in list(self._pending.items()):
            exhausted = entry.command.attempt >= self.max_attempts and now >= entry.next_due
            if exhausted or now >= entry.deadline:
                expired.append(self._pending.pop(cid))
            elif connected and now >= entry.next_due:
                entry.command = msgspec.structs.replace(
                    entry.command, attempt=entry.command.attempt + 1
                )
                entry.next_due = now + self.ack_timeout
                resend.append(entry)
        return resend, expired

    def resend_all(self, now: float) -> list[Pending]:
        """After a reconnect: everything still pending goes out again now."""
        for entry in self._pending.values():
            entry.command = msgspec.structs.replace(
                entry.command, attempt=entry.command.attempt + 1
            )
            entry.next_due = now + self.ack_timeout
        return list(self._pending.values())

    def next_deadline(self) -> float | None:
        return min((min(e.next_due, e.deadline) for e in self._pending.values()), default=None)
