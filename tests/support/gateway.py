"""A gateway running in the test's event loop against a real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from config import Settings
from gateway.app import Gateway
from tests.robot import robots_config


def gateway_settings(redis_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    data: dict[str, Any] = {
        "gateway": {
            "name": "gw-test",
            "heartbeat_s": 0.2,
            "stale_after_s": 0.6,
            "offline_after_s": 1.2,
            "metrics_port": 0,
            "shutdown_timeout_s": 3,
        },
        "tcp": {
            "host": "127.0.0.1",
            "port": 0,
            "max_frame_bytes": 4096,
            "max_strikes": 3,
            "handshake_timeout_s": 1.0,
        },
        "udp": {"host": "127.0.0.1", "port": 0},
        "camera": {"port": 0},
        "redis": {"url": redis_url, "connect_timeout_s": 0.5, "command_block_ms": 200},
        "spool": {"path": str(tmp_path / "spool.sqlite3")},
        "commands": {"ack_timeout_s": 0.3, "max_attempts": 3, "ttl_s": 5},
        "robots": robots_config(),
    }
    for section, values in overrides.items():
        if isinstance(values, dict):
            data.setdefault(section, {}).update(values)
        else:
            data[section] = values
    return Settings(**data)


class RunningGateway:
    def __init__(self, gateway: Gateway, stop: asyncio.Event, task: asyncio.Task[None]) -> None:
        self.gateway, self.stop_event, self.task = gateway, stop, task

    @property
    def tcp_port(self) -> int:
        return self.gateway.tcp_port

    @property
    def udp_port(self) -> int:
        return self.gateway.udp_port

    @property
    def camera_port(self) -> int:
        return self.gateway.camera_port

    async def drained(self) -> None:
        assert self.gateway.writer is not None
        await self.gateway.writer.drained()

    async def stop(self) -> None:
        self.stop_event.set()
        await asyncio.wait_for(self.task, 10)


@contextlib.asynccontextmanager
async def run_gateway(settings: Settings) -> AsyncIterator[RunningGateway]:
    gw = Gateway(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(gw.run(stop.wait()))
    started = asyncio.create_task(gw.started.wait())
    await asyncio.wait({task, started}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        started.cancel()
        task.result()
    running = RunningGateway(gw, stop, task)
    try:
        yield running
    finally:
        if not task.done():
            await running.stop()
