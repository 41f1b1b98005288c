"""e2e-latency: robot send -> WebSocket client receive, 50 clients, 5,000 msg/s."""

from __future__ import annotations

from bench import availability
from bench.harness import Context, Result

NAME = "e2e-latency"
MEASURES = "robot send -> WebSocket client receive, 50 clients, 5,000 msg/s"
CEILING = ""
GOAL = "p50 <= 3 ms, p99 <= 10 ms"


def unavailable() -> str | None:
    reason = availability.web()
    return reason or "the scenario is not written yet"


def run(ctx: Context) -> Result:
    raise NotImplementedError(NAME)
