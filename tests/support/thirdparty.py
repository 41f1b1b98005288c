"""The third-party VDA 5050 library on the wire: a recording client and an AGV party."""

from __future__ import annotations

import json
from typing import Any

from protocol.vda5050 import MASTER_PUBLISHES, Subtopic, VdaTopic, decode_for_topic
from tests.integration.mqtt_support import Received, _Client
from tests.protocol.vda5050_support import SCHEMA_DIRS, schema_errors, wire_errors
from tests.thirdparty.vdalib import NodeParty, Validator

# The library's own topic names for its validators.
_LIB_TOPIC = {
    Subtopic.ORDER: "order",
    Subtopic.INSTANT_ACTIONS: "instantActions",
    Subtopic.STATE: "state",
    Subtopic.VISUALIZATION: "visualization",
    Subtopic.CONNECTION: "connection",
    Subtopic.FACTSHEET: "factsheet",
}


class Wire:
    """Everything on ``uagv/#`` while a test runs."""

    def __init__(self, client: _Client) -> None:
        self.client = client
        self.seen: list[Received] = []

    def drain(self) -> list[Received]:
        while not self.client.inbox.empty():
            self.seen.append(self.client.inbox.get_nowait())
        return self.seen

    def of(self, sub: Subtopic) -> list[dict[str, Any]]:
        return [
            m.json
            for m in self.drain()
            if VdaTopic.parse(m.topic, accept=frozenset(Subtopic)).subtopic is sub
        ]

    async def check(
        self, version: str, ours: frozenset[Subtopic] = MASTER_PUBLISHES
    ) -> dict[str, int]:
        """Every message was in ``version``, reads back in it, passes its official schemas
        (if it has any; strict for ``ours``, what we sent, so that a typo of ours fails) and
        the library's validators; how many of each subtopic."""
        counts: dict[str, int] = {}
        checker = Validator()
        async with checker.party:
            for m in self.drain():
                topic = VdaTopic.parse(m.topic, accept=frozenset(Subtopic))
                doc = m.json
                assert doc["version"] == version, m.topic
                decode_for_topic(topic, m.payload, version=version)
                if version in SCHEMA_DIRS:
                    errors = (
                        wire_errors(topic.subtopic, doc, version)
                        if topic.subtopic in ours
                        else schema_errors(topic.subtopic, doc, version=version, strict=False)
                    )
                    assert not errors, f"{m.topic}: {errors}"
                if topic.subtopic is not Subtopic.FACTSHEET:  # its 2.0 factsheet type is {}
                    complaint = await checker.check(_LIB_TOPIC[topic.subtopic], version, doc)
                    assert complaint is None, f"{m.topic}: {complaint}\n{json.dumps(doc)}"
                counts[topic.subtopic.value] = counts.get(topic.subtopic.value, 0) + 1
        return counts


def lib_agv(broker_port: int, version: str, serial: str = "SN-1", **options: Any) -> NodeParty:
    """vda-5050-lib's AgvController + VirtualAgvAdapter as ``Acme``/``serial``, parked on dock-1
    of the corridor floor (tests/integration/mqtt_support.FLOOR)."""
    return NodeParty(
        {
            "role": "agv",
            "broker": f"mqtt://127.0.0.1:{broker_port}",
            "version": version,
            "agv": {"manufacturer": "Acme", "serialNumber": serial},
            "initialPosition": {
                "mapId": "restaurant",
                "x": 1.0,
                "y": 1.0,
                "theta": 0.0,
                "lastNodeId": "dock-1",
            },
            "vehicleSpeed": 3.0,
            "stateIntervalMs": 1000,
            "visualizationIntervalMs": 500,
            **options,
        }
    )
