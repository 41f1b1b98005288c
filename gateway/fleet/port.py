"""What the fleet writes out: the one interface between robot logic and Redis.

The fleet, the dispatcher and the command router decide; whatever they decide
is told through these four calls, none of which awaits. The gateway plugs in
``gateway.streams.writer.StreamWriter`` (batched into Redis, spooled through an
outage); unit tests plug in an in-memory recorder and read back what was said.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from protocol.messages import Telemetry
from protocol.streams import Level

__all__ = ["FleetOutput"]


class FleetOutput(Protocol):
    def event(
        self,
        type: str,
        robot: str = "",
        *,
        level: Level = Level.INFO,
        data: dict[str, Any] | None = None,
        ack: str | None = None,
    ) -> str:
        """Append one rd:events entry (never dropped); ``ack`` names the rd:commands
        entry acknowledged together with it. Returns the event's ``eid``."""
        ...

    def snapshot(self, robot: str, **fields: Any) -> None:
        """Latest-wins fields of the robot's hash rd:robot:{id}."""
        ...

    def telemetry_run(self, msgs: Sequence[Telemetry], transport: str, rx: float) -> None:
        """Samples accepted from robots, all received at ``rx`` (may be dropped, counted)."""
        ...

    def hash_put(self, key: str, field: str, value: str | None) -> None:
        """Latest-wins state in a Redis hash; None deletes the field."""
        ...
