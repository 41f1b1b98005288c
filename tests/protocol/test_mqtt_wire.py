"""protocol.mqtt_wire: QoS 0 PUBLISH handed over a run at a time, other packets returned
whole, in order."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.mqtt_wire import PacketSplitter, Publish
from tests.support.protocol import PINGRESP, publish, topics

SUBACK = b"\x90\x03\x00\x01\x00"


def run(splitter: PacketSplitter, chunks: list[bytes]) -> list[Any]:
    """Feed chunk by chunk, splitting after each as the socket does: what came out, in order."""
    out: list[Any] = []

    def on_run(publishes: list[Publish]) -> None:
        assert publishes  # never an empty run
        out.extend(("publish", topic, payload, retain) for topic, payload, retain in publishes)

    for chunk in chunks:
        splitter.feed(chunk)
        while (packet := splitter.split(on_run)) is not None:
            out.append(packet)
    return out


def test_qos0_publishes_are_handed_over_and_other_packets_returned_in_stream_order() -> None:
    state = publish("robodine/v1/robots/r1/state", b'{"s":1}', qos=1)
    stream = [
        publish("robodine/v1/robots/r1/telemetry", b'{"t":1}'),
        state,
        publish("robodine/v1/robots/r1/presence", b"online", retain=True),
        PINGRESP,
    ]
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
    assert splitter.split(topics(seen)) == SUBACK
    assert seen == []
    assert splitter.split(topics(seen)) == PINGRESP
    assert seen == ["a/b"]
    assert splitter.split(topics(seen)) is None
    assert seen == ["a/b", "a/c"]
    assert splitter.buffered() == 0


def test_the_publishes_between_two_other_packets_are_one_run() -> None:
    splitter = PacketSplitter()
    runs: list[list[Publish]] = []
    telemetry = [publish(f"r/{i}/telemetry", str(i).encode()) for i in range(300)]
    splitter.feed(b"".join([*telemetry[:200], PINGRESP, *telemetry[200:], b"\x30"]))
    assert splitter.split(runs.append) == PINGRESP
    assert splitter.split(runs.append) is None
    assert [len(r) for r in runs] == [200, 100]
    assert runs[1][0] == ("r/200/telemetry", b"200", False)
    assert splitter.buffered() == 1  # the start of the next packet waits for the rest


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
    assert splitter.split(lambda publishes: None) == garbage
    assert splitter.buffered() == 0


def test_a_callback_that_raises_is_not_handed_the_same_packets_again() -> None:
    splitter = PacketSplitter()
    splitter.feed(publish("a/1", b"1") + publish("a/2", b"2"))
    calls: list[list[str]] = []

    def flaky(publishes: list[Publish]) -> None:
        calls.append([topic for topic, _, _ in publishes])
        raise RuntimeError("handler bug")

    with pytest.raises(RuntimeError):
        splitter.split(flaky)
    assert splitter.split(flaky) is None
    splitter.feed(publish("a/3", b"3"))
    with pytest.raises(RuntimeError):
        splitter.split(flaky)
    assert calls == [["a/1", "a/2"], ["a/3"]]


packets = st.one_of(
    st.builds(
        publish,
        st.text(min_size=1, max_size=30),
        st.binary(max_size=300),
        qos=st.sampled_from([0, 0, 1, 2]),
        retain=st.booleans(),
    ),
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
