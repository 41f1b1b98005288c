"""Camera chunks: a frame split, signed, checked and put back together, whatever comes in."""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.camera_chunks import (
    CHUNK_MAGIC,
    CameraDrop,
    CameraSender,
    Chunk,
    ChunkDecoder,
    Dropped,
    RawChunk,
    encode_chunks,
)
from protocol.cameras import CameraInfo, camera_key, is_jpeg, split_camera_key
from protocol.envelope import gateway_decoder
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.messages import Camera, Challenge
from protocol.tcp import GatewayConnection, RobotConnection
from protocol.vocabulary import ErrorCode, RobotKind

KEYS = {"r1": bytes(range(32)), "r2": bytes(range(1, 33))}
JPEG = b"\xff\xd8" + bytes(range(256)) * 20 + b"\xff\xd9"


def decoder(**kw: Any) -> ChunkDecoder:
    return ChunkDecoder(KEYS.get, **kw)


def join(chunks: list[Chunk]) -> bytes:
    assert len({(c.frame, c.count, c.size) for c in chunks}) == 1
    return b"".join(c.payload for c in sorted(chunks, key=lambda c: c.index))


@given(st.binary(max_size=20_000), st.integers(80, 1400), st.integers(0, 2**40))
def test_any_frame_round_trips(data: bytes, max_chunk: int, seq: int) -> None:
    chunks = encode_chunks(
        "r1", "front", KEYS["r1"], frame=5, data=data, ts=1.25, seq=seq, max_chunk=max_chunk
    )
    assert all(len(c) <= max_chunk for c in chunks)
    dec = decoder(max_chunk=max_chunk)
    got = [dec.decode(c) for c in chunks]
    assert all(isinstance(c, Chunk) for c in got)
    parts = [c for c in got if isinstance(c, Chunk)]
    assert [c.seq for c in parts] == list(range(seq, seq + len(chunks)))
    assert [c.index for c in parts] == list(range(len(chunks)))
    assert {(c.robot, c.camera, c.frame, c.size, c.ts) for c in parts} == {
        ("r1", "front", 5, len(data), 1.25)
    }
    assert join(parts) == data


@given(st.binary(max_size=1500))
def test_arbitrary_bytes_are_dropped_never_raised(data: bytes) -> None:
    assert isinstance(decoder().decode(data), Dropped)
    assert isinstance(decoder().decode(CHUNK_MAGIC + data), Dropped)


@given(st.integers(0, 10_000), st.integers(0, 7))
def test_any_flipped_bit_fails_the_signature(pos: int, bit: int) -> None:
    (chunk,) = encode_chunks("r1", "front", KEYS["r1"], frame=1, data=JPEG[:500], ts=1.0, seq=1)
    data = bytearray(chunk)
    pos = 4 + pos % (len(data) - 4)  # from the robot id's length on
    data[pos] ^= 1 << bit
    got = decoder().decode(bytes(data))
    assert isinstance(got, Dropped) and got.reason in (
        CameraDrop.BAD_SIGNATURE,
        CameraDrop.MALFORMED,
        CameraDrop.UNKNOWN_ROBOT,
    )


@given(st.lists(st.integers(0, 10**9), min_size=1, max_size=30))
def test_only_strictly_increasing_seqs_pass_per_camera(seqs: list[int]) -> None:
    dec = decoder()
    passed = []
    for s in seqs:
        (c,) = encode_chunks("r1", "front", KEYS["r1"], frame=s, data=b"x", ts=1.0, seq=s)
        if isinstance(dec.decode(c), Chunk):
            passed.append(s)
    best, expected = -1, []
    for s in seqs:
        if s > best:
            expected.append(s)
            best = s
    assert passed == expected


def test_each_camera_has_its_own_window_and_reset_forgets_the_robots() -> None:
    dec = decoder()

    def one(robot: str, camera: str, seq: int) -> Chunk | Dropped:
        (c,) = encode_chunks(robot, camera, KEYS[robot], frame=0, data=b"x", ts=1.0, seq=seq)
        return dec.decode(c)

    assert isinstance(one("r1", "front", 9), Chunk)
    assert isinstance(one("r1", "rear", 1), Chunk)  # another camera: its own window
    assert isinstance(one("r2", "front", 1), Chunk)
    assert one("r1", "front", 9) == Dropped(CameraDrop.REPLAYED, "r1")
    dec.reset("r1")  # a new hello
    assert isinstance(one("r1", "front", 9), Chunk)
    assert one("r2", "front", 1) == Dropped(CameraDrop.REPLAYED, "r2")


def test_drop_reasons() -> None:
    good = encode_chunks("r1", "front", KEYS["r1"], frame=1, data=JPEG, ts=1.0, seq=1)[0]
    dec = decoder(max_frame=len(JPEG))
    assert dec.decode(b"RC\x01") == Dropped(CameraDrop.MALFORMED)
    assert dec.decode(b"RD" + good[2:]) == Dropped(CameraDrop.MALFORMED)
    assert dec.decode(good + b"x" * 1400) == Dropped(CameraDrop.TOO_LARGE)
    (stranger,) = encode_chunks("r3", "front", KEYS["r1"], frame=1, data=b"x", ts=1.0, seq=1)
    assert dec.decode(stranger) == Dropped(CameraDrop.UNKNOWN_ROBOT, "r3")
    (forged,) = encode_chunks("r1", "front", KEYS["r2"], frame=1, data=b"x", ts=1.0, seq=1)
    assert dec.decode(forged) == Dropped(CameraDrop.BAD_SIGNATURE, "r1")
    big = encode_chunks("r1", "front", KEYS["r1"], frame=1, data=JPEG + b"x", ts=1.0, seq=1)[0]
    assert dec.decode(big) == Dropped(CameraDrop.TOO_LARGE, "r1")
    assert isinstance(dec.decode(good), Chunk)
    assert dec.decode(good) == Dropped(CameraDrop.REPLAYED, "r1")


def signed(body: bytes, key: bytes = KEYS["r1"]) -> bytes:
    return body + hmac.digest(key, body, hashlib.sha256)


@pytest.mark.parametrize(
    ("index", "count", "ts", "camera"),
    [
        (2, 2, 1.0, b"front"),  # index not below count
        (0, 0, 1.0, b"front"),
        (0, 5000, 1.0, b"front"),  # more chunks than any frame may have
        (0, 1, float("nan"), b"front"),
        (0, 1, float("inf"), b"front"),
        (0, 1, 1.0, b"Front"),  # not a camera id
    ],
)
def test_signed_but_inconsistent_headers_are_malformed(
    index: int, count: int, ts: float, camera: bytes
) -> None:
    body = (
        CHUNK_MAGIC
        + b"\x02r1"
        + bytes((len(camera),))
        + camera
        + struct.pack(">QIHHId", 1, 1, index, count, 1, ts)
        + b"x"
    )
    assert decoder().decode(signed(body)) == Dropped(CameraDrop.MALFORMED, "r1")


def test_a_camera_the_robot_did_not_announce_keeps_no_window() -> None:
    announced = {("r1", "front")}
    dec = ChunkDecoder(KEYS.get, announced=lambda r, c: (r, c) in announced)
    (rear,) = encode_chunks("r1", "rear", KEYS["r1"], frame=0, data=b"x", ts=1.0, seq=3)
    assert dec.decode(rear) == Dropped(CameraDrop.UNKNOWN_CAMERA, "r1")
    announced.add(("r1", "rear"))
    assert isinstance(dec.decode(rear), Chunk)  # nothing of the refused one was remembered


def test_the_sender_counts_frames_and_seqs_per_camera() -> None:
    sender = CameraSender("r1", KEYS["r1"], max_chunk=600)
    dec = decoder(max_chunk=600)
    first = [dec.decode(c) for c in sender.frame("front", JPEG, 1.0)]
    second = [dec.decode(c) for c in sender.frame("front", JPEG[:100], 2.0)]
    rear = [dec.decode(c) for c in sender.frame("rear", JPEG[:100], 2.0)]
    chunks = [c for c in first + second + rear if isinstance(c, Chunk)]
    assert len(chunks) == len(first) + 2
    assert [c.frame for c in chunks] == [0] * len(first) + [1, 0]
    assert chunks[len(first)].seq == len(first) and chunks[-1].seq == 0
    assert join([c for c in chunks if c.frame == 0 and c.camera == "front"]) == JPEG
    sender.restart()
    assert sender.frame("front", b"x", 3.0) != []


def test_encoding_refuses_what_cannot_be_sent() -> None:
    with pytest.raises(LocalProtocolError):
        encode_chunks("r1", "Front", KEYS["r1"], frame=0, data=b"x", ts=1.0, seq=0)
    with pytest.raises(LocalProtocolError):
        encode_chunks("r1", "front", KEYS["r1"], frame=0, data=b"x", ts=1.0, seq=0, max_chunk=60)
    with pytest.raises(LocalProtocolError):
        encode_chunks(
            "r1", "front", KEYS["r1"], frame=0, data=bytes(50_000), ts=1.0, seq=0, max_chunk=82
        )


# ---- the camera announcement and chunks over TCP --------------------------------------


def test_the_camera_message_decodes_and_checks_its_cameras() -> None:
    dec = gateway_decoder()
    msg = dec.decode(
        b'{"v":1,"type":"camera","robot":"r1","cameras":'
        b'[{"id":"front","width":640,"height":480,"fps":10}]}'
    )
    front = CameraInfo(id="front", width=640, height=480, fps=10)
    assert msg == Camera(robot="r1", cameras=[front])
    for bad in (
        b'[{"id":"Front","width":640,"height":480,"fps":10}]',
        b'[{"id":"front","width":0,"height":480,"fps":10}]',
        b'[{"id":"front","width":640,"height":480,"fps":0}]',
        b'[{"id":"front","width":640,"height":480,"fps":10,"format":"h264"}]',
        b"[" + b",".join([b'{"id":"c","width":1,"height":1,"fps":1}'] * 9) + b"]",
    ):
        with pytest.raises(RemoteProtocolError) as err:
            dec.decode(b'{"v":1,"type":"camera","robot":"r1","cameras":' + bad + b"}")
        assert err.value.code == ErrorCode.BAD_MESSAGE and "$.cameras" in err.value.message


def test_a_chunk_over_tcp_comes_out_raw_after_the_hello_and_is_refused_before() -> None:
    gw = GatewayConnection(lambda r: KEYS.get(r), "ab" * 16)
    bot = RobotConnection("r1", RobotKind.SERVING, KEYS["r1"], "cd" * 16)
    (chunk,) = encode_chunks("r1", "front", KEYS["r1"], frame=0, data=b"x", ts=1.0, seq=0)
    early = GatewayConnection(lambda r: KEYS.get(r), "ab" * 16)
    early.receive_data(bot.chunk(chunk))
    with pytest.raises(RemoteProtocolError) as err:
        early.next_event()
    assert err.value.code == ErrorCode.UNEXPECTED
    bot.receive_data(gw.challenge())
    challenge = bot.next_event()
    assert isinstance(challenge, Challenge)
    gw.receive_data(bot.hello(challenge, ts=1.0))
    gw.next_event()
    gw.receive_data(bot.chunk(chunk) + bot.send(Camera(robot="r1", cameras=[])))
    assert gw.next_event() == RawChunk(chunk)
    assert gw.next_event() == Camera(robot="r1", cameras=[])


def test_camera_keys() -> None:
    assert camera_key("serve-1", "front") == "serve-1:front"
    assert split_camera_key("serve-1:front") == ("serve-1", "front")
    for bad in ("serve-1", "serve-1:", ":front", "serve 1:front", "serve-1:Front", "a:b:c"):
        assert split_camera_key(bad) is None
    assert is_jpeg(JPEG) and not is_jpeg(JPEG[:-1]) and not is_jpeg(b"\xff\xd8")


def test_camera_info_round_trips_through_json() -> None:
    info = CameraInfo(id="front", width=640, height=480, fps=12.5)
    assert msgspec.json.decode(msgspec.json.encode(info), type=CameraInfo) == info
