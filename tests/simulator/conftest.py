"""Fixtures for the simulator: robot keys, the peer gateway, robots wired to it."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
from collections.abc import AsyncIterator
from typing import Any

import pytest

from protocol.vocabulary import RobotKind
from robodine.backoff import Backoff
from simulator.client import TcpTransport
from simulator.floorplan import FloorPlan
from simulator.model import ModelOptions, RobotModel
from simulator.robot import SimRobot
from simulator.transport import RobotIdentity
from tests.simulator.peer import PeerGateway
from tests.support.simulator import FLOOR, RobotFactory


@pytest.fixture
def floor() -> FloorPlan:
    return FloorPlan(FLOOR)


@pytest.fixture
def keys() -> dict[str, bytes]:
    return {
        "serve-001": secrets.token_bytes(32),
        "serve-002": secrets.token_bytes(32),
        "cook-001": secrets.token_bytes(32),
    }


@pytest.fixture
async def peer(keys: dict[str, bytes]) -> AsyncIterator[PeerGateway]:
    async with PeerGateway(keys, heartbeat_s=0.2) as p:
        yield p


@pytest.fixture
def sim_robot(keys: dict[str, bytes], floor: FloorPlan) -> RobotFactory:
    """``async with sim_robot(peer, "serve-001") as robot:`` runs one robot against the peer."""

    @contextlib.asynccontextmanager
    async def make(
        peer: PeerGateway,
        robot_id: str = "serve-001",
        *,
        port: int | None = None,
        key: bytes | None = None,
        hz: float = 50.0,
        probe_hz: float = 0.0,
        **model: Any,
    ) -> AsyncIterator[SimRobot]:
        kind = RobotKind.COOKING if robot_id.startswith("cook") else RobotKind.SERVING
        transport = TcpTransport("127.0.0.1", port or peer.port, handshake_timeout_s=1.0)
        await transport.start()
        loop = asyncio.get_running_loop()
        rng = random.Random(7)
        m = RobotModel(
            robot_id,
            kind,
            floor,
            loop.time(),
            rng=rng,
            options=ModelOptions(**model),
            start=(2.0, 6.0),
            battery=80.0,
        )
        robot = SimRobot(
            RobotIdentity(robot_id, kind, key or keys[robot_id]),
            m,
            transport,
            hz=hz,
            clock=loop.time,
            backoff=Backoff(0.02, 0.1, rng=rng),
            rng=rng,
            probe_hz=probe_hz,
        )
        task = asyncio.create_task(robot.run())
        try:
            yield robot
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await transport.aclose()

    return make
