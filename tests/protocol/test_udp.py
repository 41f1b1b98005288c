from __future__ import annotations

import hashlib
import hmac

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.messages import Telemetry
from protocol.udp import DatagramDecoder, Dropped, DropReason, ReplayWindow, encode_datagram

KEYS = {"r1": bytes(range(32)), "r2": bytes(range(1, 33))}


def decoder() -> DatagramDecoder:
    return DatagramDecoder(KEYS.get, max_size=1400)


def same(got: object, want: Telemetry) -> bool:
    """A decoded datagram is a Telemetry (a subclass whose robot skips the id regex)."""
    return isinstance(got, Telemetry) and msgspec.structs.asdict(got) == msgspec.structs.asdict(
        want
    )


def tel(seq: int, robot: str = "r1", **kw: float) -> Telemetry:
    return Telemetry(robot=robot, seq=seq, ts=1.5, x=kw.get("x", 1.0), y=2.0, battery=50.0)


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=30))
def test_only_strictly_increasing_seqs_pass(seqs: list[int]) -> None:
    dec = decoder()
    passed = [
        s for s in seqs if not isinstance(dec.decode(encode_datagram(tel(s), KEYS["r1"])), Dropped)
    ]
    best = -1
    expected = []
    for s in seqs:
        if s > best:
            expected.append(s)
            best = s
    assert passed == expected


@given(st.floats(-1e6, 1e6), st.integers(0, 2**62))
def test_round_trip(x: float, seq: int) -> None:
    msg = tel(seq, x=x)
    assert same(decoder().decode(encode_datagram(msg, KEYS["r1"])), msg)


@given(st.binary(max_size=1500))
def test_arbitrary_datagrams_are_dropped_never_raised(data: bytes) -> None:
    result = decoder().decode(data)
    assert isinstance(result, Dropped)


@given(st.integers(0, 200), st.integers(0, 255))
def test_any_flipped_bit_fails_the_signature(pos: int, bit: int) -> None:
    data = bytearray(encode_datagram(tel(1), KEYS["r1"]))
    pos = 4 + 2 + pos % (len(data) - 6)  # after the header and robot id
    data[pos] ^= 1 << (bit % 8)
    result = decoder().decode(bytes(data))
    assert isinstance(result, Dropped) and result.reason in (
        DropReason.BAD_SIGNATURE,
        DropReason.MALFORMED,
    )


def test_drop_reasons() -> None:
    dec = decoder()
    good = encode_datagram(tel(1), KEYS["r1"])
    assert dec.decode(b"RD\x01") == Dropped(DropReason.MALFORMED)
    assert dec.decode(b"XX" + good[2:]) == Dropped(DropReason.MALFORMED)
    assert dec.decode(good + b"x" * 1400) == Dropped(DropReason.TOO_LARGE)
    assert dec.decode(encode_datagram(tel(1, "r3"), KEYS["r1"])) == Dropped(
        DropReason.UNKNOWN_ROBOT, "r3"
    )
    assert dec.decode(encode_datagram(tel(1), KEYS["r2"])) == Dropped(
        DropReason.BAD_SIGNATURE, "r1"
    )
    # signed by r2 with r2's key but claiming to be r1 in the body
    forged = b"RD\x01\x02r2" + encode_datagram(tel(5), KEYS["r2"])[6:-32]
    from protocol.auth import sign

    assert dec.decode(forged + sign(KEYS["r2"], forged)) == Dropped(DropReason.ROBOT_MISMATCH, "r2")
    body_bad = b"RD\x01\x02r1" + b'{"v":1,"type":"telemetry","robot":"r1"}'
    assert dec.decode(body_bad + sign(KEYS["r1"], body_bad)) == Dropped(
        DropReason.BAD_MESSAGE, "r1"
    )
    assert same(dec.decode(good), tel(1))
    assert dec.decode(good) == Dropped(DropReason.REPLAYED, "r1")
    dec.reset("r1")  # a new authenticated hello
    assert same(dec.decode(good), tel(1))


def test_replay_window_is_per_robot() -> None:
    dec = decoder()
    assert same(dec.decode(encode_datagram(tel(9), KEYS["r1"])), tel(9))
    assert same(dec.decode(encode_datagram(tel(3, "r2"), KEYS["r2"])), tel(3, "r2"))
    w = ReplayWindow()
    assert [w.accept(s) for s in (0, 0, 2, 1, 3)] == [True, False, True, False, True]


@pytest.mark.parametrize("key_size", [16, 32, 64, 65, 200])
def test_signatures_are_hmac_sha256_for_any_key_length(key_size: int) -> None:
    key = bytes(range(7, 7 + key_size % 256)) * (key_size // 256 + 1)
    key = key[:key_size]
    msg = tel(3)
    signed = encode_datagram(msg, key)
    body = signed[:-32]
    assert signed[-32:] == hmac.digest(key, body, hashlib.sha256)
    assert same(DatagramDecoder({"r1": key}.get).decode(signed), msg)


def test_a_new_key_is_used_at_once_and_the_old_one_refused() -> None:
    keys = dict(KEYS)
    dec = DatagramDecoder(keys.get)
    assert same(dec.decode(encode_datagram(tel(1), KEYS["r1"])), tel(1))
    keys["r1"] = bytes(range(100, 132))
    assert dec.decode(encode_datagram(tel(2), KEYS["r1"])) == Dropped(
        DropReason.BAD_SIGNATURE, "r1"
    )
    assert same(dec.decode(encode_datagram(tel(3), keys["r1"])), tel(3))


def test_the_body_robot_must_still_be_the_header_robot() -> None:
    """The body's robot skips the id pattern only because it must equal the header's."""
    from protocol.auth import sign

    head = b"RD\x01\x02r1"
    body = b'{"type":"telemetry","robot":"r1 ","seq":1,"x":1,"y":2,"battery":5}'
    assert decoder().decode(head + body + sign(KEYS["r1"], head + body)) == Dropped(
        DropReason.ROBOT_MISMATCH, "r1"
    )


def test_a_run_is_what_decode_gives_one_by_one() -> None:
    keys = dict(KEYS)
    good = encode_datagram(tel(1), KEYS["r1"])
    run = [
        good,
        good,
        encode_datagram(tel(2, "r2"), KEYS["r2"]),
        b"garbage",
        encode_datagram(tel(3), KEYS["r2"]),
        encode_datagram(tel(1, "r3"), KEYS["r1"]),
        good + b"x" * 1400,
        encode_datagram(tel(4), KEYS["r1"]),
    ]
    one_by_one = DatagramDecoder(keys.get)
    expected = [one_by_one.decode(d) for d in run]
    got, dropped = DatagramDecoder(keys.get).decode_run(run)
    assert (
        [(m.robot, m.seq) for m in got]
        == [(m.robot, m.seq) for m in expected if not isinstance(m, Dropped)]
        == [("r1", 1), ("r2", 2), ("r1", 4)]
    )
    assert (
        dropped
        == [m for m in expected if isinstance(m, Dropped)]
        == [
            Dropped(DropReason.REPLAYED, "r1"),
            Dropped(DropReason.MALFORMED),
            Dropped(DropReason.BAD_SIGNATURE, "r1"),
            Dropped(DropReason.UNKNOWN_ROBOT, "r3"),
            Dropped(DropReason.TOO_LARGE),
        ]
    )


def test_a_new_key_keeps_the_replay_window_and_reset_forgets_it() -> None:
    keys = dict(KEYS)
    dec = DatagramDecoder(keys.get)
    assert same(dec.decode(encode_datagram(tel(5), KEYS["r1"])), tel(5))
    keys["r1"] = bytes(range(100, 132))
    assert dec.decode(encode_datagram(tel(5), keys["r1"])) == Dropped(DropReason.REPLAYED, "r1")
    del keys["r1"]  # removed from the registry
    assert dec.decode(encode_datagram(tel(6), KEYS["r1"])) == Dropped(
        DropReason.UNKNOWN_ROBOT, "r1"
    )
    keys["r1"] = KEYS["r1"]
    dec.reset("r1")
    dec.reset("ré")  # no header can name it: nothing to forget
    assert same(dec.decode(encode_datagram(tel(1), KEYS["r1"])), tel(1))
