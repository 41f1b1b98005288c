"""A gateway running in the test's event loop against a real redis-server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.servers import MosquittoServer, RedisServer
from tests.support.gateway import RunningGateway, gateway_settings, run_gateway
from tests.support.integration import open_restaurant  # noqa: F401 - a fixture


@pytest.fixture
async def gateway(
    redis_server: RedisServer, redis_client: aioredis.Redis, tmp_path: Path
) -> AsyncIterator[RunningGateway]:
    async with run_gateway(gateway_settings(redis_server.url, tmp_path)) as gw:
        yield gw


@pytest.fixture
async def gw(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> AsyncIterator[RunningGateway]:
    """A gateway with its MQTT transport connected to a broker of the test's own."""
    from tests.integration.mqtt_support import mqtt_settings

    settings = mqtt_settings(redis_server.url, tmp_path, mosquitto_private.url)
    async with run_gateway(settings) as running:
        assert running.gateway.mqtt is not None
        await asyncio.wait_for(running.gateway.mqtt.connected.wait(), 5)
        yield running
