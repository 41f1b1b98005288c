"""The gateway's MQTT ingress (``MqttSupervisor``: the robodine/v1 robots' router and the
VDA 5050 master, one message or a socket read's run at a time) fed valid messages of our
profile and of VDA 5050 2.1, mutants of them and noise: no handler ever fails
(``mqtt_dropped{handler_failed}`` stays 0), and every message the codecs refuse is counted
(``mqtt_dropped{reason}``, ``vda_dropped{reason}``)."""

from __future__ import annotations

import itertools
from typing import Any

import msgspec
import pytest
from hypothesis import strategies as st

from gateway.transports.mqtt import MqttSupervisor, open_mqtt
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.messages import RobotMessage
from protocol.mqtt_topics import InboundDecoder, publication_for
from protocol.vda5050 import VdaTopic, decode_for_topic, publication
from protocol.vda5050.codec import header_version
from tests.fuzz.budget import INPUTS, short_and_long
from tests.fuzz.mutate import NOISE, spray
from tests.gateway.fleet_harness import NOW, FleetHarness
from tests.integration.mqtt_support import mqtt_settings
from tests.protocol.vda5050_support import (
    connections,
    headers,
    serving_factsheet,
    states,
    visualizations,
)
from tests.support.protocol import robot_messages

ROBOTS = [
    {"id": "mq-1", "kind": "serving", "transport": "mqtt"},
    {"id": "mq-cook", "kind": "cooking", "transport": "mqtt"},
    {"id": "serve-1", "kind": "serving", "key": "11" * 32},  # TCP: wrong_transport on MQTT
    {"id": "agv-1", "kind": "serving", "vda": {"manufacturer": "Acme", "serial": "SR-001"}},
]
_clock = itertools.count()


class Ingress(FleetHarness):
    def __init__(self, tmp: Any) -> None:
        settings = mqtt_settings(
            "redis://127.0.0.1:1/0",
            tmp,
            "mqtt://127.0.0.1:1",
            robots=ROBOTS,
            gateway={"telemetry_rate_per_s": 10**6, "telemetry_burst": 10**6},
        )
        super().__init__(settings, tmp)
        mqtt = open_mqtt(settings, self.fleet, self.stats, clock=lambda: NOW + next(_clock))
        assert mqtt is not None
        self.mqtt: MqttSupervisor = mqtt
        self.decoder = InboundDecoder(settings.mqtt.max_payload_bytes)

    def dropped(self, name: str) -> int:
        return self.stats.total(name) - self.stats.get("mqtt_dropped", "handler_failed")

    def done(self) -> None:
        assert self.stats.get("mqtt_dropped", "handler_failed") == 0  # no handler raised
        self.writer._events.clear()
        self.writer._telemetry.clear()
        self.mqtt.outbox._queue.clear()  # nothing drains it here


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Ingress:
    return Ingress(tmp_path_factory.mktemp("mqtt-fuzz"))


# ---- robodine/v1 ------------------------------------------------------------------------------


def _v1(msg: RobotMessage, robot: str) -> tuple[str, bytes] | None:
    try:
        any_msg: Any = msgspec.structs.replace(msg, robot=robot)  # a Hello too: refused below
        pub = publication_for(any_msg)
    except LocalProtocolError:  # hello, heartbeat: no MQTT channel
        return None
    return pub.topic, pub.payload


V1 = st.builds(_v1, robot_messages, st.sampled_from(["mq-1", "mq-cook"])).filter(bool)
OTHER_ROBOTS = st.sampled_from(["serve-1", "ghost", "agv-1", "mq-1", "mq-cook"])
MUTANTS = 6  # per seed message


def _robodine(
    ingress: Ingress,
    seeds: list[tuple[str, bytes]],
    stray: str,
    noise: bytes,
    as_run: bool,
    rnd: Any,
) -> None:
    messages = []
    for topic, payload in seeds:
        messages += [(topic, payload), *((topic, m) for m in spray(rnd, payload, MUTANTS))]
        messages.append((topic.replace(topic.split("/")[3], stray, 1), payload))
    messages += [
        (f"robodine/v1/robots/mq-1/{c}", noise) for c in ("presence", "state", "telemetry")
    ]
    rnd.shuffle(messages)
    received = ingress.stats.total("mqtt_received")
    if as_run:  # the QoS 0 path: a socket read's worth at once
        ingress.mqtt._route_run([(t, p, False) for t, p in messages])
    for topic, payload in [] if as_run else messages:
        before = ingress.dropped("mqtt_dropped")
        ingress.mqtt._route(topic, payload, False)
        robot = topic.split("/")[3]
        if robot in ("mq-1", "mq-cook"):
            try:
                ingress.decoder.decode(topic, payload)
                refused = 0
            except RemoteProtocolError:
                refused = 1
            assert ingress.dropped("mqtt_dropped") - before == refused, (topic, payload)
        else:  # a robot not on MQTT: refused by its topic alone
            assert ingress.dropped("mqtt_dropped") - before == 1, topic
    assert ingress.stats.total("mqtt_received") - received == len(messages)
    INPUTS["mqtt robodine/v1 messages"] += len(messages)
    ingress.done()


test_mqtt_robodine, test_mqtt_robodine_long = short_and_long(
    16,
    seeds=st.lists(V1, min_size=1, max_size=4),
    stray=OTHER_ROBOTS,
    noise=NOISE,
    as_run=st.booleans(),
    rnd=st.randoms(use_true_random=True),
)(_robodine)


# ---- VDA 5050 ---------------------------------------------------------------------------------

VDA_SEEDS = (
    st.one_of(
        states(),
        connections(),
        visualizations.filter(lambda v: v.manufacturer and v.serial_number),
        st.builds(serving_factsheet, headers()),
    )
    .map(publication)
    .map(lambda p: (p.topic, p.payload))
)
TOPICS = st.sampled_from(
    [
        "uagv/v2/Acme/SR-001/state",
        "uagv/v2/Acme/SR-001/connection",
        "uagv/v2/Acme/SR-001/visualization",
        "uagv/v2/Acme/SR-001/factsheet",
        "uagv/v1/Acme/SR-001/state",
        "uagv/v2/Acme/OTHER/state",
        "uagv/v2/Acme/SR-001/order",
        "uagv/v9/Acme/SR-001/state",
    ]
)


def _vda(
    ingress: Ingress, seeds: list[tuple[str, bytes]], topic: str, noise: bytes, rnd: Any
) -> None:
    messages = []
    for t, payload in seeds:
        messages += [(t, payload), *((t, m) for m in spray(rnd, payload, MUTANTS))]
        messages.append((topic, payload))
    messages.append((topic, noise))
    for t, payload in messages:
        before = ingress.dropped("vda_dropped")
        ingress.mqtt._route(t, payload, rnd.random() < 0.1)
        try:
            parsed = VdaTopic.parse(t, interface="uagv", majors=None)
            version = header_version(payload, parsed.subtopic)
            if version is None:  # the AGV's learned version applies: no oracle here
                continue
            decode_for_topic(parsed, payload, version=version)
            ok = True
        except RemoteProtocolError:
            ok = False
        delta = ingress.dropped("vda_dropped") - before
        assert delta == 1 if not ok else delta in (0, 1), (t, payload, delta)
    INPUTS["mqtt VDA 5050 messages"] += len(messages)
    ingress.done()


test_mqtt_vda5050, test_mqtt_vda5050_long = short_and_long(
    12,
    seeds=st.lists(VDA_SEEDS, min_size=1, max_size=3),
    topic=TOPICS,
    noise=NOISE,
    rnd=st.randoms(use_true_random=True),
)(_vda)
