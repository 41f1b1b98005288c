"""Wire samples: robot messages and MQTT packets."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from bench.loadgen.mqtt_raw import remaining_length
from protocol.messages import (
    Ack,
    Event,
    Heartbeat,
    Hello,
    State,
    Telemetry,
)
from protocol.vocabulary import RobotKind

robot_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z")


finite = st.floats(-1e6, 1e6, allow_nan=False)


hexes = st.binary(min_size=8, max_size=32).map(bytes.hex)


names = st.from_regex(r"\A[a-z][a-z0-9_.-]{0,20}\Z")


# Free-form data holds what the streams can write: integers within 64 bits (a larger one is
# bad_message at decode, tested below).
INT64 = st.integers(-(2**63), 2**64 - 1)


small_json = st.dictionaries(st.text(max_size=5), INT64 | st.text(max_size=5), max_size=3)


common = {"robot": robot_ids, "seq": st.integers(0, 2**40), "ts": st.floats(0, 2e9)}


robot_messages = st.one_of(
    st.builds(
        Hello,
        kind=st.sampled_from(RobotKind),
        cnonce=hexes,
        proof=hexes,
        firmware=st.text(max_size=10),
        **common,
    ),
    st.builds(Heartbeat, **common),
    st.builds(
        Telemetry,
        x=finite,
        y=finite,
        theta=finite,
        speed=finite,
        battery=st.floats(0, 100),
        **common,
    ),
    st.builds(State, state=names, task=st.none() | st.text(max_size=10), **common),
    st.builds(
        Event,
        name=names,
        level=st.sampled_from(["info", "warning", "alarm"]),
        data=small_json,
        **common,
    ),
    st.builds(
        Ack,
        id=st.text(min_size=1, max_size=10),
        ok=st.booleans(),
        reason=st.none() | st.text(max_size=10),
        data=small_json,
        **common,
    ),
)


PINGRESP = b"\xd0\x00"


def publish(
    topic: str, payload: bytes, *, qos: int = 0, retain: bool = False, packet_id: int = 7
) -> bytes:
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return bytes([0x30 | qos << 1 | retain]) + remaining_length(len(body)) + body


def topics(seen: list[str]) -> Any:
    return lambda publishes: seen.extend(topic for topic, _, _ in publishes)
