"""slow-client: others' p99 with one WebSocket client that stops reading."""

from __future__ import annotations

from bench import availability
from bench.harness import Context, Result

NAME = "slow-client"
MEASURES = "others' p99 with one WebSocket client that stops reading"
CEILING = "the same run without it"
GOAL = "others' p99 within 20 %; server memory bounded"


def unavailable() -> str | None:
    reason = availability.web()
    return reason or "the scenario is not written yet"


def run(ctx: Context) -> Result:
    raise NotImplementedError(NAME)
