"""Outage lengths for the chaos tests, and the world each test builds and tears down.

Every scenario runs with a short outage by default; the `long` variant (deselected unless
``-m long``) lasts ``$CHAOS_OUTAGE_S`` seconds (20 if unset).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.chaos.world import World
from tests.support.chaos import MakeWorld


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
