"""chat: messages/s in one room with 10 members; latency vs history size."""

from __future__ import annotations

from bench import availability
from bench.harness import Context, Result

NAME = "chat"
MEASURES = "messages/s in one room with 10 members; latency vs history size"
CEILING = ""
GOAL = "latency flat in history size (within 20 %)"


def unavailable() -> str | None:
    reason = availability.web()
    return reason or "the scenario is not written yet"


def run(ctx: Context) -> Result:
    raise NotImplementedError(NAME)
