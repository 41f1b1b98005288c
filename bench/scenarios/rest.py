"""rest: GET /api/robots with 50 robots online, requests/s."""

from __future__ import annotations

from bench import availability
from bench.harness import Context, Result

NAME = "rest"
MEASURES = "GET /api/robots with 50 robots online, requests/s"
CEILING = "a bare aiohttp JSON hello-world"
GOAL = ">= 0.7 of the ceiling"


def unavailable() -> str | None:
    reason = availability.web()
    return reason or "the scenario is not written yet"


def run(ctx: Context) -> Result:
    raise NotImplementedError(NAME)
