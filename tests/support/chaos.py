"""Outage lengths and the world factory type shared by the chaos tests."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable

import pytest

from tests.chaos.world import World

SHORT_S = 3.0


LONG_S = float(os.environ.get("CHAOS_OUTAGE_S", "20"))


OUTAGES = [
    pytest.param(SHORT_S, id="short"),
    pytest.param(
        LONG_S, id="long", marks=[pytest.mark.long, pytest.mark.timeout(600 + 10 * LONG_S)]
    ),
]


MakeWorld = Callable[..., Awaitable[World]]
