from __future__ import annotations

from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import streams
from protocol.streams import CommandRecord, EventRecord, TelemetryRecord


def as_redis(fields: dict[str, Any]) -> dict[bytes, bytes]:
    """What XRANGE returns for what XADD was given."""
    return {k.encode(): (v if isinstance(v, bytes) else str(v).encode()) for k, v in fields.items()}


@given(
    st.builds(
        TelemetryRecord,
        robot=st.text(min_size=1, max_size=8),
        seq=st.integers(0, 2**62),
        ts=st.floats(0, 2e9),
        x=st.floats(-1e3, 1e3),
        y=st.floats(-1e3, 1e3),
        theta=st.floats(-4, 4),
        battery=st.floats(0, 100),
        speed=st.floats(0, 5),
        transport=st.sampled_from(["udp", "tcp", "mqtt"]),
        rx=st.floats(0, 2e9),
    )
)
def test_telemetry_record_round_trips_through_redis_text(rec: TelemetryRecord) -> None:
    assert streams.from_fields(TelemetryRecord, as_redis(streams.to_fields(rec))) == rec


def test_telemetry_is_the_robot_and_the_sample_as_one_json_object() -> None:
    rec = TelemetryRecord(robot="serve-1", seq=3, ts=1.5, x=2.0, y=-1.0, theta=0.5,
                          battery=80.0, speed=0.25, transport="tcp", rx=1.75)  # fmt: skip
    fields = streams.to_fields(rec)
    assert fields == {"robot": "serve-1", "sample": (
        '{"robot":"serve-1","seq":3,"ts":1.5,"x":2.0,"y":-1.0,"theta":0.5,"battery":80.0,'
        '"speed":0.25,"transport":"tcp","rx":1.75}')}  # fmt: skip
    sample = fields["sample"]
    assert isinstance(sample, str)
    flat = {k: getattr(rec, k) for k in TelemetryRecord.__struct_fields__}  # no ``sample``
    with pytest.raises(msgspec.ValidationError, match="no 'sample' field"):
        streams.from_fields(TelemetryRecord, as_redis(flat))
    with pytest.raises(msgspec.ValidationError, match="sample: Input data was truncated"):
        streams.from_fields(TelemetryRecord, {"robot": "serve-1", "sample": '{"robot":'})
    with pytest.raises(msgspec.ValidationError, match="battery"):
        streams.from_fields(TelemetryRecord, {"robot": "serve-1", "sample": sample
                                              .replace("80.0", '"full"')})  # fmt: skip
    with pytest.raises(msgspec.ValidationError, match="'serve-2' holds a sample of 'serve-1'"):
        streams.from_fields(TelemetryRecord, {"robot": "serve-2", "sample": sample})


def test_event_and_command_records_keep_json_fields() -> None:
    ev = EventRecord(
        eid="e", type="robot.state", ts=1.5, robot="r", data={"state": "idle", "n": [1]}
    )
    fields = streams.to_fields(ev)
    assert fields["data"] == '{"state":"idle","n":[1]}'
    assert streams.from_fields(EventRecord, as_redis(fields)) == ev
    cmd = CommandRecord(id="c", robot="r", action="goto", ts=2.0, args={"x": 1.5})
    assert streams.from_fields(CommandRecord, as_redis(streams.to_fields(cmd))) == cmd


def test_a_broken_record_raises_a_validation_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="ts"):
        streams.from_fields(
            CommandRecord, {b"id": b"c", b"robot": b"r", b"action": b"x", b"ts": b"soon"}
        )
    with pytest.raises(msgspec.ValidationError, match="id"):
        streams.from_fields(CommandRecord, {b"robot": b"r", b"action": b"x", b"ts": b"1"})


def test_key_names() -> None:
    assert streams.robot_key("serve-1") == "rd:robot:serve-1"
    assert streams.chat_stream("kitchen") == "rd:chat:kitchen"
    assert (streams.TELEMETRY, streams.EVENTS, streams.COMMANDS) == (
        "rd:telemetry",
        "rd:events",
        "rd:commands",
    )
