"""Outage lengths for the chaos tests, and the world each test builds and tears down.

Every scenario runs with a short outage by default; the `long` variant (deselected unless
``-m long``) lasts ``$CHAOS_OUTAGE_S`` seconds (20 if unset).
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.world import World
from tests.integration.test_redis_data_loss import volatile_redis  # noqa: F401 - a fixture

SHORT_S = 3.0
LONG_S = float(os.environ.get("CHAOS_OUTAGE_S", "20"))
OUTAGES = [
    pytest.param(SHORT_S, id="short"),
    pytest.param(
        LONG_S, id="long", marks=[pytest.mark.long, pytest.mark.timeout(600 + 10 * LONG_S)]
    ),
]

MakeWorld = Callable[..., Awaitable[World]]


@pytest.fixture
async def make_world(tmp_path: Path) -> AsyncIterator[MakeWorld]:
    made: list[World] = []

    async def make(*args: Any, **kwargs: Any) -> World:
        world = World(tmp_path / f"w{len(made)}", *args, **kwargs)
        made.append(world)
        return world

    yield make
    for world in made:
        await world.close()
