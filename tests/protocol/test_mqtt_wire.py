"""protocol.mqtt_wire: QoS 0 PUBLISH handed over, other packets returned whole, in order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.loadgen.mqtt_raw import remaining_length
from protocol.mqtt_wire import PacketSplitter

PINGRESP = b"\xd0\x00"
SUBACK = b"\x90\x03\x00\x01\x00"


def publish(topic: str, payload: bytes, *, qos: int = 0, retain: bool = False,
            packet_id: int = 7) -> bytes:
    t = topic.encode()
    body = len(t).to_bytes(2, "big") + t + (packet_id.to_bytes(2, "big") if qos else b"") + payload
    return bytes([0x30 | qos << 1 | retain]) + remaining_length(len(body)) + body


def run(splitter: PacketSplitter, chunks: list[bytes]) -> list[Any]:
    """Feed chunk by chunk, splitting after each as the socket does: what came out, in order."""
    out: list[Any] = []

    def on_publish(topic: str, payload: bytes, retain: bool) -> None:
        out.append(("publish", topic, payload, retain))

    for chunk in chunks:
        splitter.feed(chunk)
        while (packet := splitter.split(on_publish)) is not None:
            out.append(packet)
    return out


def test_qos0_publishes_are_handed_over_and_other_packets_returned_in_stream_order() -> None:
    state = publish("robodine/v1/robots/r1/state", b'{"s":1}', qos=1)
    stream = [publish("robodine/v1/robots/r1/telemetry", b'{"t":1}'), state,
              publish("robodine/v1/robots/r1/presence", b"online", retain=True), PINGRESP]
    assert run(PacketSplitter(), [b"".join(stream)]) == [
        ("publish", "robodine/v1/robots/r1/telemetry", b'{"t":1}', False),
        state,
        ("publish", "robodine/v1/robots/r1/presence", b"online", True),
        PINGRESP,
    ]


def test_split_stops_at_the_first_other_packet_until_asked_again() -> None:
    splitter = PacketSplitter()
    seen: list[str] = []
    splitter.feed(b"".join([SUBACK, publish("a/b", b"1"), PINGRESP, publish("a/c", b"2")]))
    assert splitter.split(lambda t, p, r: seen.append(t)) == SUBACK
    assert seen == []
    assert splitter.split(lambda t, p, r: seen.append(t)) == PINGRESP
    assert seen == ["a/b"]
    assert splitter.split(lambda t, p, r: seen.append(t)) is None
    assert seen == ["a/b", "a/c"]
    assert splitter.buffered() == 0


def test_a_packet_cut_anywhere_waits_for_the_rest() -> None:
    big = b"x" * 20_000  # a three-byte remaining length
    stream = b"".join([publish("r/1", b"a" * 200), publish("r/2", big), SUBACK])
    expected = run(PacketSplitter(), [stream])
    assert [e[1] for e in expected[:2]] == ["r/1", "r/2"] and expected[1][2] == big
    for cut in (1, 2, 3, 4, 150, 205, 210, len(stream) - 1):
        splitter = PacketSplitter()
        assert run(splitter, [stream[:cut], stream[cut:]]) == expected
        assert splitter.buffered() == 0


def test_what_is_not_a_readable_qos0_publish_goes_to_the_library_whole() -> None:
    bad_topic = b"\x30\x05\x00\x02\xff\xfe!"  # a topic that is not UTF-8
    dup_qos0 = b"\x38\x04\x00\x01ab"  # DUP set on QoS 0: malformed, paho decides
    short_topic = b"\x30\x03\x00\x09a"  # the topic length runs past the packet
    for packet in (bad_topic, dup_qos0, short_topic):
        assert run(PacketSplitter(), [packet + PINGRESP]) == [packet, PINGRESP]


def test_a_remaining_length_longer_than_four_bytes_is_returned_for_the_library_to_refuse() -> None:
    garbage = b"\x30\xff\xff\xff\xff\x01rest"
    splitter = PacketSplitter()
    splitter.feed(garbage)
    assert splitter.split(lambda t, p, r: None) == garbage
    assert splitter.buffered() == 0


def test_a_callback_that_raises_is_not_handed_the_same_packet_again() -> None:
    splitter = PacketSplitter()
    splitter.feed(publish("a/1", b"1") + publish("a/2", b"2"))
    calls: list[str] = []

    def flaky(topic: str, payload: bytes, retain: bool) -> None:
        calls.append(topic)
        if topic == "a/1":
            raise RuntimeError("handler bug")

    with pytest.raises(RuntimeError):
        splitter.split(flaky)
    assert splitter.split(flaky) is None
    assert calls == ["a/1", "a/2"]


packets = st.one_of(
    st.builds(publish, st.text(min_size=1, max_size=30), st.binary(max_size=300),
              qos=st.sampled_from([0, 0, 1, 2]), retain=st.booleans()),
    st.sampled_from([PINGRESP, SUBACK]),
)


@given(st.lists(packets, max_size=20), st.lists(st.integers(1, 400), max_size=30))
def test_any_chunking_gives_the_same_sequence(stream: list[bytes], sizes: list[int]) -> None:
    data = b"".join(stream)
    expected = run(PacketSplitter(), [data])
    assert len(expected) == len(stream)
    chunks, pos = [], 0
    for size in sizes:
        chunks.append(data[pos : pos + size])
        pos += size
    chunks.append(data[pos:])
    assert run(PacketSplitter(), chunks) == expected
