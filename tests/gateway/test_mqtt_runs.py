"""A run of QoS 0 messages handled in one go: the same outcome as one message at a time.

``MqttSupervisor._route_run`` gives the robots' telemetry to ``RobotRouter.handle_run``
(checked per message, applied to the fleet and the writer per batch) and every other
message to ``_route``. Here both paths get the same stream, in-process, and must leave
the same samples, events, counters and sessions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import pytest

from config import Settings
from gateway.transports.mqtt import MqttSupervisor, open_mqtt
from protocol.envelope import encode
from protocol.messages import State, Telemetry
from protocol.mqtt_wire import Publish
from tests.gateway.fleet_harness import NOW, FleetHarness
from tests.integration.mqtt_support import mqtt_settings

ROOT = "robodine/v1/robots"


class Gateway(FleetHarness):
    """The MQTT side of a gateway without sockets: supervisor, routers, fleet, writer."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        super().__init__(settings, tmp_path)
        supervisor = open_mqtt(settings, self.fleet, self.stats, clock=lambda: NOW)
        assert supervisor is not None
        self.mqtt: MqttSupervisor = supervisor


def tele(robot: str, seq: int, *, topic_robot: str | None = None, **fields: Any) -> Publish:
    msg = Telemetry(
        robot=robot,
        seq=seq,
        ts=NOW - 0.5,
        x=seq + 0.5,
        y=2.25,
        theta=1e-05,
        battery=80.0,
        speed=0.3,
        **fields,
    )
    return (f"{ROOT}/{topic_robot or robot}/telemetry", encode(msg), False)


def settings(tmp_path: Path) -> Settings:
    return mqtt_settings(
        "redis://127.0.0.1:1/0",
        tmp_path,
        "mqtt://127.0.0.1:1",
        mqtt={"max_payload_bytes": 1024},
        udp={"host": "127.0.0.1", "port": 0},
        gateway={"telemetry_rate_per_s": 5, "telemetry_burst": 6},
    )


MIXED: list[Publish] = [
    tele("mq-1", 1),  # no session yet: handle attaches it
    tele("mq-1", 2),
    tele("mq-cook", 1),
    tele("mq-1", 3),
    (f"{ROOT}/mq-1/telemetry", b'{"type":"telemetry","robot":"mq-1","x":', False),
    tele("mq-cook", 2, topic_robot="mq-1"),  # another robot's payload
    (f"{ROOT}/mq-1/telemetry", encode(State(robot="mq-1", state="idle")), False),
    tele("mq-1", 4, v=2),
    (f"{ROOT}/mq-1/telemetry", b" " * 2000, False),  # over max_payload_bytes
    tele("serve-1", 1),  # a TCP robot
    tele("ghost", 1),
    tele("mq-1", 5),
    (f"{ROOT}/mq-1/state", encode(State(robot="mq-1", state="idle")), False),
    (f"{ROOT}/mq-1/presence", b"offline", False),
    tele("mq-1", 6),  # heard again: attached again
    ("uagv/v2/Acme/SN-1/state", b"{}", False),
    ("elsewhere/x", b"1", False),
    *(tele("mq-cook", seq) for seq in range(3, 10)),  # past the burst of 6
    tele("mq-1", 7),
]


def test_a_run_leaves_what_one_message_at_a_time_leaves(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched, single = Gateway(settings(tmp_path), tmp_path), Gateway(settings(tmp_path), tmp_path)
    router = batched.mqtt.routers[0]
    handled: list[str] = []
    handle = router.handle

    def counted(topic: str, *args: Any) -> None:
        handled.append(topic)
        handle(topic, *args)

    monkeypatch.setattr(router, "handle", counted)
    batched.mqtt._route_run(list(MIXED))
    assert len(handled) == 12  # the rest (11 samples) went in batches
    for topic, payload, retained in MIXED:
        single.mqtt._route(topic, payload, retained)

    assert batched.samples() == single.samples()
    assert batched.events() == single.events()
    assert batched.stats.counts == single.stats.counts
    assert batched.sessions() == single.sessions()

    # and what that is
    assert [(s[0], s[2]) for s in batched.samples()] == [
        ("mq-1", 1),
        ("mq-1", 2),
        ("mq-cook", 1),
        ("mq-1", 3),
        ("mq-1", 5),
        ("mq-1", 6),
        *(("mq-cook", seq) for seq in range(3, 8)),
        ("mq-1", 7),
    ]
    assert batched.samples()[0] == ["mq-1", "mqtt", 1, NOW - 0.5, 1.5, 2.25, 1e-05, 80.0, 0.3, NOW]
    get = batched.stats.get
    assert get("telemetry_received", "mqtt") == 12
    assert get("telemetry_dropped", "rate_limited") == 2  # mq-cook: 6 tokens, 8 samples
    assert get("mqtt_received", "robodine") == len(MIXED) - 2
    assert get("mqtt_received", "uagv") == get("mqtt_received", "elsewhere") == 1
    assert {
        reason: get("mqtt_dropped", reason)
        for reason in (
            "bad_message",
            "unsupported_version",
            "frame_too_large",
            "wrong_transport",
            "unknown_robot",
            "unknown_topic",
        )
    } == {
        "bad_message": 3,
        "unsupported_version": 1,
        "frame_too_large": 1,
        "wrong_transport": 1,
        "unknown_robot": 1,
        "unknown_topic": 1,
    }
    connection = [
        (robot, msgspec.json.decode(data)["state"])
        for type_, robot, data in batched.events()
        if type_ == "robot.connection"
    ]
    assert connection == [
        ("mq-1", "online"),
        ("mq-cook", "online"),
        ("mq-1", "offline"),
        ("mq-1", "online"),
    ]
    assert batched.writer._latest.keys() == {"mq-1", "mq-cook"}


def test_a_batch_that_raises_is_counted_and_the_rest_of_the_run_is_handled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = Gateway(settings(tmp_path), tmp_path)
    gw.mqtt._route_run([tele("mq-1", 1)])  # attached
    calls: list[int] = []
    apply = gw.fleet.telemetry_run

    def flaky(run: Any, now: float, transport: str) -> None:
        calls.append(len(run))
        if len(calls) == 1:
            raise RuntimeError("a bug")
        apply(run, now, transport)

    monkeypatch.setattr(gw.fleet, "telemetry_run", flaky)
    gw.mqtt._route_run([tele("mq-1", 2), tele("mq-1", 3), tele("mq-1", 4, v=2), tele("mq-1", 5)])
    assert calls == [2, 1]
    assert gw.stats.get("mqtt_dropped", "handler_failed") == 2
    assert gw.stats.get("mqtt_dropped", "unsupported_version") == 1
    assert [s[2] for s in gw.samples()] == [1, 5]


def test_the_writer_takes_a_batch_as_it_takes_samples_one_by_one(tmp_path: Path) -> None:
    s = settings(tmp_path)
    s = s.model_copy(update={"redis": s.redis.model_copy(update={"telemetry_buffer_max": 3})})
    gw = Gateway(s, tmp_path)
    msgs = [Telemetry(robot="mq-1", seq=seq, x=1.0, y=2.0, battery=50.0) for seq in range(1, 6)]
    gw.writer.telemetry_run(msgs, "mqtt", NOW)
    assert [sample[2] for sample in gw.samples()] == [3, 4, 5]  # the oldest went
    assert gw.stats.get("telemetry_dropped", "buffer_full") == 2
    assert msgspec.json.decode(gw.writer._latest["mq-1"])[2] == 5
    gw.writer._supervisor.failed("Redis away (test)")
    gw.writer.telemetry_run(msgs, "mqtt", NOW)
    assert gw.stats.get("telemetry_dropped", "redis_down") == 5
