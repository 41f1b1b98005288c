"""Shared by the MQTT and VDA 5050 integration tests: settings, a scripted AGV, a scripted robot.

The scripted clients speak through the real broker with aiomqtt and record what
the gateway publishes together with the QoS it was delivered with (they
subscribe at QoS 2, so the delivery QoS is the publisher's).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiomqtt
import msgspec
import orjson

from config import Settings
from protocol import streams
from protocol.messages import Ack, Event, State, Telemetry
from protocol.mqtt_topics import (
    Presence,
    Publication,
    last_will,
    presence_publication,
    publication_for,
)
from protocol.vda5050 import (
    AgvId,
    AgvPosition,
    BatteryState,
    ConnectionState,
    EStop,
    HeaderCounter,
    InstantActions,
    OperatingMode,
    Order,
    SafetyState,
    Subtopic,
    VdaTopic,
    connection_message,
    decode_instant_actions,
    decode_order,
    dialect_for,
    publication,
    subtopic_of,
)
from protocol.vda5050 import State as VdaState
from tests.robot import robots_config
from tests.support.gateway import gateway_settings
from tests.support.replies import RawEntries

FLOOR: dict[str, Any] = {
    "width": 12.0,
    "height": 8.0,
    "kitchen_pass": {"name": "pass", "x": 1.0, "y": 4.0},
    "docks": [{"name": "dock-1", "x": 1.0, "y": 1.0}],
    "tables": [
        {"name": "T1", "x": 4.0, "y": 4.0},
        {"name": "T2", "x": 7.0, "y": 4.0},
        {"name": "T3", "x": 10.0, "y": 4.0},
    ],
    # A corridor: dock-1 - pass - T1 - T2 - T3, so routes have several nodes.
    "links": [["dock-1", "pass"], ["pass", "T1"], ["T1", "T2"], ["T2", "T3"]],
}
MANUFACTURER = "Acme"


def mqtt_robots() -> list[dict[str, Any]]:
    return [
        *robots_config(),  # serve-1, serve-2, cook-1 on TCP
        {"id": "mq-1", "kind": "serving", "transport": "mqtt"},
        {"id": "mq-cook", "kind": "cooking", "transport": "mqtt"},
        {"id": "agv-1", "kind": "serving", "vda": {"manufacturer": MANUFACTURER, "serial": "SN-1"}},
        {"id": "agv-2", "kind": "serving", "vda": {"manufacturer": MANUFACTURER, "serial": "SN-2"}},
    ]


def mqtt_settings(redis_url: str, tmp_path: Path, broker_url: str, **overrides: Any) -> Settings:
    """Gateway settings with MQTT and VDA 5050 on, a corridor floor and a client id per test."""
    sections: dict[str, Any] = {
        "gateway": {"stale_after_s": 3.0, "offline_after_s": 10.0},
        "mqtt": {
            "enabled": True,
            "url": broker_url,
            "client_id": f"gw-{uuid.uuid4().hex[:8]}",
            "reconnect_max_s": 0.5,
            "keepalive_s": 5,
        },
        "vda5050": {
            "enabled": True,
            "resend_s": 0.4,
            "max_resends": 3,
            "return_after_s": 30.0,
            "stale_after_s": 5.0,
        },
        "commands": {"ack_timeout_s": 1.0, "max_attempts": 3, "ttl_s": 10},
        "floor": FLOOR,
        "robots": mqtt_robots(),
    }
    for section, values in overrides.items():
        if isinstance(values, dict) and isinstance(sections.get(section), dict):
            sections[section] = {**sections[section], **values}
        else:
            sections[section] = values
    return gateway_settings(redis_url, tmp_path, **sections)


async def events(
    r: Any, type_: str | None = None, robot: str | None = None
) -> list[dict[str, Any]]:
    out = []
    for entry_id, fields in cast(RawEntries, await r.xrange(streams.EVENTS)):
        ev = streams.decode_fields(fields)
        ev["id"] = entry_id.decode()
        if (type_ is None or ev["type"] == type_) and (robot is None or ev["robot"] == robot):
            out.append(ev)
    return out


def robot_events(evs: list[dict[str, Any]], robot: str, name: str) -> list[dict[str, Any]]:
    return [
        e
        for e in evs
        if e["type"] == "robot.event" and e["robot"] == robot and e["data"]["name"] == name
    ]


def states_of(evs: list[dict[str, Any]], robot: str) -> list[str]:
    return [e["data"]["state"] for e in evs if e["type"] == "robot.state" and e["robot"] == robot]


@dataclass(frozen=True, slots=True)
class Received:
    topic: str
    payload: bytes
    qos: int
    retain: bool

    @property
    def json(self) -> Any:
        return orjson.loads(self.payload)


class _Client:
    """An aiomqtt client with a reader task feeding a queue; ``async with`` runs it."""

    def __init__(
        self, port: int, identifier: str, subscribe: list[str], will: aiomqtt.Will | None = None
    ) -> None:
        self.client = aiomqtt.Client(
            "127.0.0.1", port, identifier=identifier, will=will, clean_session=True
        )
        self.subscribe = subscribe
        self.inbox: asyncio.Queue[Received] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Any:
        await self.client.__aenter__()
        for topic in self.subscribe:
            await self.client.subscribe(topic, qos=2)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task
        with contextlib.suppress(aiomqtt.MqttError):
            await self.client.__aexit__(None, None, None)

    async def _read(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async for m in self.client.messages:
                self.inbox.put_nowait(Received(m.topic.value, bytes(m.payload), m.qos, m.retain))

    async def raw(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=qos, retain=retain)

    async def next(self, timeout: float = 3.0) -> Received:
        return await asyncio.wait_for(self.inbox.get(), timeout)

    async def nothing(self, seconds: float) -> list[Received]:
        """What arrives within ``seconds`` (tests assert it is nothing)."""
        await asyncio.sleep(seconds)
        got = []
        while not self.inbox.empty():
            got.append(self.inbox.get_nowait())
        return got


class ScriptedAgv(_Client):
    """A VDA 5050 AGV that does exactly what the test says, in ``version`` (any string: one
    we do not speak is written as 2.1 with that version and topic level)."""

    def __init__(
        self,
        port: int,
        serial: str,
        *,
        manufacturer: str = MANUFACTURER,
        will: bool = True,
        version: str = "2.1.0",
    ) -> None:
        self.agv = AgvId(manufacturer, serial)
        self.version = version
        self.headers = HeaderCounter(version=version)
        spoken = dialect_for(version)
        self.major = spoken.major if spoken is not None else f"v{version.split('.')[0]}"
        subs = [self.topic(s) for s in (Subtopic.ORDER, Subtopic.INSTANT_ACTIONS)]
        w = None
        if will:
            now = time.time()
            p = self._publication(
                connection_message(
                    self.headers.header(self.agv, Subtopic.CONNECTION, now),
                    ConnectionState.CONNECTIONBROKEN,
                )
            )
            w = aiomqtt.Will(p.topic, p.payload, p.qos, True)
        super().__init__(port, f"agv-{serial}-{uuid.uuid4().hex[:6]}", subs, w)
        self.x, self.y = 1.0, 1.0  # on dock-1
        self.last_node, self.last_seq = "dock-1", 0
        self.battery = 80.0

    def topic(self, sub: Subtopic) -> str:
        return VdaTopic(self.agv, sub, major=self.major).value

    def header(self, sub: Subtopic) -> dict[str, Any]:
        return self.headers.header(self.agv, sub, time.time()).fields()

    def _publication(self, msg: Any) -> Publication:
        if dialect_for(self.version) is not None:
            return publication(msg)
        as21 = publication(msgspec.structs.replace(msg, version="2.1.0"))
        payload = as21.payload.replace(b'"version":"2.1.0"', f'"version":"{self.version}"'.encode())
        return Publication(self.topic(subtopic_of(msg)), payload, as21.qos, as21.retain)

    async def send(self, msg: Any) -> None:
        pub = self._publication(msg)
        await self.raw(pub.topic, pub.payload, pub.qos, pub.retain)

    async def connection(self, state: ConnectionState = ConnectionState.ONLINE) -> None:
        await self.send(
            connection_message(
                self.headers.header(self.agv, Subtopic.CONNECTION, time.time()), state
            )
        )

    def state_msg(self, **fields: Any) -> VdaState:
        base: dict[str, Any] = {
            "order_id": "",
            "order_update_id": 0,
            "last_node_id": self.last_node,
            "last_node_sequence_id": self.last_seq,
            "node_states": (),
            "edge_states": (),
            "driving": False,
            "action_states": (),
            "battery_state": BatteryState(battery_charge=self.battery, charging=False),
            "operating_mode": OperatingMode.AUTOMATIC,
            "errors": (),
            "safety_state": SafetyState(e_stop=EStop.NONE, field_violation=False),
            "agv_position": AgvPosition(
                x=self.x, y=self.y, theta=0.0, map_id="restaurant", position_initialized=True
            ),
        }
        base.update(fields)
        return VdaState(**self.header(Subtopic.STATE), **base)

    async def state(self, **fields: Any) -> VdaState:
        msg = self.state_msg(**fields)
        await self.send(msg)
        return msg

    async def order(self, timeout: float = 3.0) -> tuple[Order, Received]:
        got = await self._next_of(Subtopic.ORDER, timeout)
        return decode_order(got.payload), got

    async def instant(self, timeout: float = 3.0) -> tuple[InstantActions, Received]:
        got = await self._next_of(Subtopic.INSTANT_ACTIONS, timeout)
        return decode_instant_actions(got.payload), got

    async def _next_of(self, sub: Subtopic, timeout: float) -> Received:
        got = await self.next(timeout)
        assert got.topic == self.topic(sub), f"expected {sub}, got {got.topic}"
        return got


class ScriptedRobot(_Client):
    """A robodine/v1 robot on MQTT."""

    def __init__(self, port: int, robot: str, *, will: bool = True) -> None:
        self.robot = robot
        w = None
        if will:
            p = last_will(robot)
            w = aiomqtt.Will(p.topic, p.payload, p.qos, p.retain)
        super().__init__(
            port, f"{robot}-{uuid.uuid4().hex[:6]}", [f"robodine/v1/robots/{robot}/command"], w
        )
        self.seq = 0

    async def presence(self, p: Presence) -> None:
        pub = presence_publication(self.robot, p)
        await self.raw(pub.topic, pub.payload, pub.qos, pub.retain)

    async def send(self, msg: State | Telemetry | Event | Ack) -> None:
        import msgspec

        self.seq += 1
        pub = publication_for(msgspec.structs.replace(msg, seq=self.seq, ts=time.time()))
        await self.raw(pub.topic, pub.payload, pub.qos, pub.retain)


async def retained(port: int, topic: str, wait: float = 0.3) -> list[Received]:
    """What the broker keeps retained on ``topic`` (a fresh subscriber sees it at once)."""
    async with _Client(port, f"probe-{uuid.uuid4().hex[:6]}", [topic]) as probe:
        return [m for m in await probe.nothing(wait) if m.retain]  # not what is live now
