"""Fixtures for the third-party VDA 5050 tests: vda-5050-lib installed, the wire recorded and
validated by the library's own validators and by the official schemas of the version."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.mqtt_support import _Client
from tests.support.integration import open_restaurant  # noqa: F401 - a fixture
from tests.support.thirdparty import Wire
from tests.thirdparty.vdalib import install


@pytest.fixture(scope="session")
def vdalib() -> Path:
    try:
        return install()
    except RuntimeError as exc:
        pytest.fail(f"vda-5050-lib is needed for these tests: {exc}")


@pytest.fixture
async def wire(mosquitto_private: Any) -> AsyncIterator[Wire]:
    async with _Client(mosquitto_private.port, "wire", ["uagv/#"]) as client:
        yield Wire(client)
