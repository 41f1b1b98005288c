"""Telemetry frames made from the entry's JSON as it is (the hub's fast path) are the
frames the records would encode to; anything else takes the decoding path or is skipped."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from protocol.streams import TELEMETRY_SAMPLE, TelemetryRecord, to_fields
from robodine.redisio.replies import Entry
from robodine.redisio.streamid import StreamId
from web.robots.telemetry_topic import TelemetryTopic, sample_frame, telemetry_frame

finite = st.floats(allow_nan=False, allow_infinity=False)
records = st.builds(
    TelemetryRecord,
    robot=st.text(max_size=12),
    seq=st.integers(0, 2**63 - 1),
    ts=finite, x=finite, y=finite, theta=finite, battery=finite, speed=finite,
    transport=st.sampled_from(["udp", "tcp", "mqtt", ""]),
    rx=finite,
)  # fmt: skip
ids = st.builds(StreamId, st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1))


def _entry(sid: StreamId, fields: dict[str, Any]) -> Entry:
    return str(sid), {k: str(v) for k, v in fields.items()}  # what the hub's reads give


async def _frames(*entries: Entry) -> list[Any]:
    no_context: Any = None  # telemetry frames are made from the entries alone
    return await TelemetryTopic().frames(no_context, list(entries))


@given(records, ids)
def test_the_fast_frame_is_the_record_s_frame(rec: TelemetryRecord, sid: StreamId) -> None:
    f = sample_frame(_entry(sid, to_fields(rec)))
    slow = telemetry_frame(sid, rec)
    assert f is not None
    assert orjson.loads(f.data) == orjson.loads(slow.data)
    assert (f.id, f.name, f.key, f.robot) == (slow.id, slow.name, slow.key, slow.robot)


@st.composite
def edited(draw: st.DrawFn) -> str:
    """A valid sample's text with a piece cut out or some text put in."""
    text = str(to_fields(draw(records))[TELEMETRY_SAMPLE])
    i = draw(st.integers(0, len(text)))
    j = draw(st.integers(i, min(len(text), i + 3)))
    return text[:i] + draw(st.text(st.sampled_from('{}[]",:\\ 0e-.atrx'), max_size=3)) + text[j:]


@given(st.one_of(edited(), st.text(max_size=200)), st.one_of(ids.map(str), st.text(max_size=30)))
def test_any_other_sample_text_is_refused_or_a_valid_frame(sample: str, sid: str) -> None:
    f = sample_frame((sid, {"robot": "r1", TELEMETRY_SAMPLE: sample}))
    if f is not None:  # only ever a frame whose JSON is one valid telemetry frame
        body = orjson.loads(f.data)
        assert set(body) == {"type", "id", "sample"} and body["id"] == sid == str(f.id)
        assert msgspec.convert(body["sample"], TelemetryRecord).robot == f.robot == f.key


async def test_entries_without_a_valid_sample_are_skipped() -> None:
    a = TelemetryRecord(robot="a", seq=1, ts=1.0, x=2.0, y=3.0, theta=0.5, battery=50.0,
                        speed=0.1, transport="udp", rx=1.5)  # fmt: skip
    b = TelemetryRecord(robot="b", seq=9, ts=1.0, x=0.0, y=0.0, theta=0.0, battery=5.0,
                        speed=0.0, transport="tcp", rx=1.5)  # fmt: skip
    flat = {k: getattr(a, k) for k in TelemetryRecord.__struct_fields__}  # no ``sample``
    assert sample_frame(_entry(StreamId(1, 0), flat)) is None
    bad_json = {"robot": "c", TELEMETRY_SAMPLE: '{"robot":"c","seq":'}
    wrong = {"robot": "d", TELEMETRY_SAMPLE: '{"robot":"d","seq":"x"}'}
    other = {"robot": "e", TELEMETRY_SAMPLE: to_fields(b)[TELEMETRY_SAMPLE]}  # b's, filed as e
    with capture_logs() as logs:
        got = await _frames(
            _entry(StreamId(1, 0), flat),
            _entry(StreamId(2, 0), bad_json),
            _entry(StreamId(3, 0), wrong),
            _entry(StreamId(3, 1), other),
            _entry(StreamId(4, 0), to_fields(b)),
        )
    assert [orjson.loads(f.data) for f in got] == [
        orjson.loads(telemetry_frame(StreamId(4, 0), b).data),
    ]
    skipped = [(e["id"], e["error"]) for e in logs if e["event"] == "stream_entry_invalid"]
    assert [sid for sid, _ in skipped] == ["1-0", "2-0", "3-0", "3-1"]
    assert skipped[0][1] == "no 'sample' field"
    assert skipped[3][1] == "robot 'e' holds a sample of 'b'"


async def test_a_batch_keeps_each_robot_s_newest_sample_in_stream_order() -> None:
    def rec(robot: str, seq: int) -> TelemetryRecord:
        return TelemetryRecord(robot=robot, seq=seq, ts=1.0, x=0.0, y=0.0, theta=0.0,
                               battery=1.0, speed=0.0)  # fmt: skip

    got = await _frames(*(
        _entry(StreamId(i, 0), to_fields(rec(robot, i)))
        for i, robot in enumerate(["a", "b", "a", "c", "b"], start=1)
    ))  # fmt: skip
    assert [(f.robot, orjson.loads(f.data)["sample"]["seq"], f.id) for f in got] == [
        ("a", 3, StreamId(3, 0)), ("c", 4, StreamId(4, 0)), ("b", 5, StreamId(5, 0))
    ]  # fmt: skip
