"""Counters one simulator process keeps, and the progress and summary lines made from them.

Plain integers on one event loop: no locks, no metrics library. ``connected``
is a gauge; everything else only grows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

__all__ = ["Stats"]


@dataclass(slots=True)
class Stats:
    robots: int
    connected: int = 0
    connects: int = 0
    reconnects: int = 0
    disconnects: int = 0
    connect_failures: int = 0
    telemetry: int = 0  # samples sent (datagrams, or TCP frames without UDP)
    messages: int = 0  # TCP messages sent: state, event, ack, heartbeat
    commands: int = 0  # received, resends included
    acked_ok: int = 0
    refused: int = 0
    duplicates: int = 0  # resends acked again without running them
    ignored: int = 0  # gateway messages a silenced robot did not answer
    gateway_errors: int = 0
    outbox_dropped: int = 0
    camera_frames: int = 0  # camera frames sent (--camera)
    last_error: str | None = None
    _last: tuple[float, int] = field(default=(0.0, 0), repr=False)

    def progress(self, elapsed: float) -> str:
        """One line for the terminal; the rate is since the previous call."""
        t0, n0 = self._last
        rate = (self.telemetry - n0) / (elapsed - t0) if elapsed > t0 else 0.0
        self._last = (elapsed, self.telemetry)
        line = (
            f"sim {elapsed:6.1f}s  robots {self.connected}/{self.robots} connected  "
            f"telemetry {self.telemetry:,} ({rate:,.0f}/s)  tcp {self.messages:,}  "
            f"commands {self.commands:,} ({self.acked_ok:,} ok, {self.refused:,} refused, "
            f"{self.duplicates:,} resent)"
        )
        if self.connected < self.robots and self.last_error:
            line += f"  last error: {self.last_error}"
        return line

    def summary(self, elapsed: float, states: Counter[str]) -> str:
        rate = self.telemetry / elapsed if elapsed > 0 else 0.0
        by_state = ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"
        return "\n".join(
            [
                f"sim summary after {elapsed:.1f}s, {self.robots} robots",
                f"  connections  {self.connects:,} made, {self.reconnects:,} reconnects, "
                f"{self.disconnects:,} drops, {self.connect_failures:,} failed attempts",
                f"  sent         {self.telemetry:,} telemetry ({rate:,.0f}/s), "
                f"{self.messages:,} tcp messages, {self.outbox_dropped:,} dropped from outboxes, "
                f"{self.camera_frames:,} camera frames",
                f"  commands     {self.commands:,} received: {self.acked_ok:,} ok, "
                f"{self.refused:,} refused, {self.duplicates:,} resends acked again, "
                f"{self.ignored:,} ignored while silent",
                f"  gateway      {self.gateway_errors:,} error messages",
                f"  final states {by_state}",
            ]
        )
