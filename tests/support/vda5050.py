"""A VDA 5050 master's view of an AGV: online and remaining nodes."""

from __future__ import annotations

import redis.asyncio as aioredis

from protocol.vda5050 import (
    EdgeState,
    NodeState,
    Order,
)
from tests.integration.mqtt_support import (
    ScriptedAgv,
    events,
    states_of,
)
from tests.waiting import wait_for


def remaining(order: Order, first: int) -> dict[str, tuple[object, ...]]:
    """nodeStates/edgeStates of an AGV that has passed the first ``first`` nodes."""
    return {
        "node_states": tuple(
            NodeState(node_id=n.node_id, sequence_id=n.sequence_id, released=n.released)
            for n in order.nodes[first:]
        ),
        "edge_states": tuple(
            EdgeState(edge_id=e.edge_id, sequence_id=e.sequence_id, released=e.released)
            for e in order.edges[first:]
        ),
    }


async def online(agv: ScriptedAgv, r: aioredis.Redis, robot: str) -> None:
    await agv.connection()
    await agv.state()
    await wait_for(lambda: _has_state(r, robot, "idle"))


async def _has_state(r: aioredis.Redis, robot: str, state: str) -> bool:
    return state in states_of(await events(r, "robot.state"), robot)
