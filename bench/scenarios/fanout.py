"""fanout: WebSocket frames delivered per second to 100-500 clients."""

from __future__ import annotations

from bench import availability
from bench.harness import Context, Result

NAME = "fanout"
MEASURES = "WebSocket frames delivered per second to 100-500 clients"
CEILING = "a bare aiohttp broadcast loop"
GOAL = ">= 0.7 of the ceiling"


def unavailable() -> str | None:
    reason = availability.web()
    return reason or "the scenario is not written yet"


def run(ctx: Context) -> Result:
    raise NotImplementedError(NAME)
