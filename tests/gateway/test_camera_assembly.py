"""Frames from chunks in bounded memory; what a camera says reaches rd:cameras and its robot."""

from __future__ import annotations

import random

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from config import Settings
from gateway.cameras.assembler import Frame, FrameAssembler
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from protocol.camera_chunks import CameraDrop, CameraSender, Chunk, ChunkDecoder, encode_chunks
from protocol.cameras import CameraInfo
from protocol.messages import Camera, Hello
from protocol.streams import CAMERAS
from protocol.vocabulary import RobotKind
from tests.gateway.recorder import Link, Recorder

KEY = bytes(range(32))
JPEG = b"\xff\xd8" + bytes(range(256)) * 30 + b"\xff\xd9"


def chunks_of(
    data: bytes,
    *,
    frame: int = 0,
    seq: int = 0,
    camera: str = "front",
    robot: str = "r1",
    max_chunk: int = 500,
) -> list[Chunk]:
    dec = ChunkDecoder({robot: KEY}.get, max_chunk=max_chunk, max_frame=10**7)
    out = []
    for c in encode_chunks(
        robot, camera, KEY, frame=frame, data=data, ts=1.0, seq=seq, max_chunk=max_chunk
    ):
        got = dec.decode(c)
        assert isinstance(got, Chunk)
        out.append(got)
    return out


class Drops:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str, CameraDrop]] = []

    def __call__(self, robot: str, camera: str, reason: CameraDrop) -> None:
        self.seen.append((robot, camera, reason))


def test_a_frame_assembles_and_holds_nothing_after() -> None:
    drops = Drops()
    asm = FrameAssembler(10**6, 1.0, drops)
    parts = chunks_of(JPEG)
    got = [asm.add(c, 0.0) for c in parts]
    assert got[:-1] == [None] * (len(parts) - 1)
    assert got[-1] == Frame("r1", "front", 0, 1.0, JPEG)
    assert asm.held == 0 and len(asm) == 0 and drops.seen == []


def test_a_frame_that_never_completes_never_holds_up_the_next() -> None:
    drops = Drops()
    asm = FrameAssembler(10**6, 1.0, drops)
    first = chunks_of(JPEG, frame=1)
    second = chunks_of(JPEG, frame=2, seq=100)
    for c in first[:-1]:  # its last chunk is lost
        assert asm.add(c, 0.0) is None
    assert asm.held > 0
    frames = [asm.add(c, 0.1) for c in second]
    assert frames[-1] == Frame("r1", "front", 2, 1.0, JPEG)
    assert drops.seen == [("r1", "front", CameraDrop.INCOMPLETE)]
    assert asm.held == 0


def test_half_frames_expire() -> None:
    drops = Drops()
    asm = FrameAssembler(10**6, 1.0, drops)
    for c in chunks_of(JPEG)[:2]:
        asm.add(c, 5.0)
    asm.expire(5.9)
    assert drops.seen == []
    asm.expire(6.1)
    assert drops.seen == [("r1", "front", CameraDrop.INCOMPLETE)] and asm.held == 0


def test_the_budget_evicts_the_oldest_frames_first() -> None:
    drops = Drops()
    asm = FrameAssembler(3000, 10.0, drops)
    cams = ["a", "b", "c"]
    parts = {cam: chunks_of(JPEG, camera=cam) for cam in cams}
    for cam in cams:  # three frames in assembly, 1,400 bytes each would not fit: the oldest go
        for c in parts[cam][:3]:
            asm.add(c, 0.0)
        assert asm.held <= 3000
    assert [d[1:] for d in drops.seen] == [("a", CameraDrop.OVER_BUDGET)]
    assert asm.held <= 3000


@given(
    st.lists(st.sampled_from(["drop", "dup", "swap", "keep"]), min_size=1, max_size=40),
    st.randoms(use_true_random=False),
)
def test_whatever_chunks_arrive_memory_stays_bounded_and_frames_are_whole(
    ops: list[str], rnd: random.Random
) -> None:
    drops = Drops()
    asm = FrameAssembler(5000, 1.0, drops)
    seq = 0
    for n, op in enumerate(ops):
        data = JPEG[: rnd.randint(100, len(JPEG) - 2)] + b"\xff\xd9"
        parts = chunks_of(data, frame=n, seq=seq, camera=rnd.choice(["a", "b"]))
        seq += len(parts)
        if op == "drop" and len(parts) > 1:
            del parts[rnd.randrange(len(parts))]
        elif op == "dup":
            parts.append(parts[0])
        elif op == "swap" and len(parts) > 1:
            parts[0], parts[-1] = parts[-1], parts[0]
        for c in parts:
            frame = asm.add(c, float(n))
            assert asm.held <= 5000
            if frame is not None:
                assert frame.data == data
        asm.expire(float(n))
    assert asm.held == sum(p.held for p in asm._partials.values())


def test_inconsistent_and_broken_frames_are_dropped() -> None:
    drops = Drops()
    asm = FrameAssembler(10**6, 1.0, drops)
    a = chunks_of(JPEG, frame=1)
    b = chunks_of(JPEG + b"xx", frame=1, seq=1000)  # same frame id, another size
    asm.add(a[0], 0.0)
    assert asm.add(b[1], 0.0) is None
    (not_jpeg,) = chunks_of(b"\xff\xd8abc", frame=2, seq=2000)
    assert asm.add(not_jpeg, 0.0) is None
    assert [d[2] for d in drops.seen] == [CameraDrop.INCONSISTENT, CameraDrop.NOT_JPEG]


# ---- the fleet's cameras ---------------------------------------------------------------


class Sink:
    def __init__(self) -> None:
        self.frames: list[tuple[Frame, float]] = []

    def frame(self, frame: Frame, rx: float) -> None:
        self.frames.append((frame, rx))


def fleet(**camera: object) -> tuple[Fleet, Recorder, Sink, Stats]:
    settings = Settings(
        robots=[
            {"id": "r1", "kind": "serving", "key": KEY.hex()},
            {"id": "r2", "kind": "serving", "key": bytes(range(1, 33)).hex()},
        ],
        camera={"stale_after_s": 2.0, "off_after_s": 5.0, "max_fps": 5, **camera},
    )
    rec, sink, stats = Recorder(lambda: 0.0), Sink(), Stats()
    return Fleet(settings, rec, stats, 0.0, frames=sink), rec, sink, stats


def hello(f: Fleet, now: float) -> Link:
    link = Link()
    f.connected(
        Hello(robot="r1", kind=RobotKind.SERVING, cnonce="aa" * 8, proof="bb" * 8), link, now
    )
    return link


FRONT = CameraInfo(id="front", width=640, height=480, fps=10)


def statuses(rec: Recorder) -> dict[str, dict[str, object]]:
    return {k: msgspec.json.decode(v) for k, v in rec.hashes.get(CAMERAS, {}).items()}


def test_announced_cameras_go_live_stale_and_off() -> None:
    f, rec, sink, stats = fleet()
    hello(f, 0.0)
    f.received("r1", Camera(robot="r1", cameras=[FRONT]), 0.5)
    assert statuses(rec)["r1:front"]["state"] == "stale"
    sender = CameraSender("r1", KEY)
    f.cameras.datagram_run(sender.frame("front", JPEG, 1.0), 1.0)
    assert [(fr.robot, fr.camera, fr.data) for fr, _ in sink.frames] == [("r1", "front", JPEG)]
    status = statuses(rec)["r1:front"]
    assert (status["state"], status["frames"], status["bytes"]) == ("live", 1, len(JPEG))
    snap = msgspec.json.decode(rec.snapshots["r1"]["cameras"])
    assert snap["front"]["state"] == "live" and snap["front"]["width"] == 640
    f.tick(3.5)
    assert statuses(rec)["r1:front"]["state"] == "stale"
    f.tick(6.5)
    assert statuses(rec)["r1:front"]["state"] == "off"
    assert stats.get("camera_frames", "r1:front") == 1
    assert stats.gauges["cameras", "off"] == 1


def test_chunks_of_cameras_nobody_announced_or_of_strangers_are_dropped() -> None:
    f, _rec, sink, stats = fleet()
    hello(f, 0.0)
    f.received("r1", Camera(robot="r1", cameras=[FRONT]), 0.0)
    f.cameras.datagram_run(CameraSender("r1", KEY).frame("rear", JPEG, 1.0), 1.0)
    forged = CameraSender("r1", bytes(32)).frame("front", JPEG, 1.0)
    f.cameras.datagram_run(forged, 1.0)
    assert sink.frames == []
    assert stats.get("camera_dropped", "unknown_camera") > 0
    assert stats.get("camera_dropped", "bad_signature") == len(forged)
    # over TCP a chunk must name the link's robot
    (r2,) = CameraSender("r2", bytes(range(1, 33))).frame("front", b"\xff\xd8\xff\xd9", 1.0)
    f.cameras.tcp_chunk("r1", r2, 1.0)
    assert stats.get("camera_dropped", "unknown_camera") > 0 and sink.frames == []


def test_frames_over_the_rate_are_dropped_and_offline_turns_cameras_off() -> None:
    f, rec, sink, stats = fleet()
    link = hello(f, 0.0)
    f.received("r1", Camera(robot="r1", cameras=[FRONT]), 0.0)
    sender = CameraSender("r1", KEY, max_chunk=65536)
    for i in range(10):  # at one instant: the burst of max_fps (5) passes
        (chunk,) = sender.frame("front", JPEG, float(i))
        f.cameras.tcp_chunk("r1", chunk, 1.0)
    assert len(sink.frames) == 5 and stats.get("camera_dropped", "rate_limited") == 5
    f.disconnected("r1", link, 2.0, "closed")
    assert statuses(rec)["r1:front"]["state"] == "off"
    assert rec.hashes[CAMERAS]  # still listed: it is announced


def test_a_new_announcement_replaces_the_old_and_a_hello_restarts_the_windows() -> None:
    f, rec, sink, _stats = fleet()
    hello(f, 0.0)
    f.received("r1", Camera(robot="r1", cameras=[FRONT]), 0.0)
    sender = CameraSender("r1", KEY)
    f.cameras.datagram_run(sender.frame("front", JPEG, 1.0), 1.0)
    hello(f, 2.0)  # rebooted: counts from 0 again
    sender.restart()
    f.cameras.datagram_run(sender.frame("front", JPEG, 2.0), 2.0)
    assert len(sink.frames) == 2
    f.received("r1", Camera(robot="r1", cameras=[]), 3.0)
    assert CAMERAS in rec.hashes and rec.hashes[CAMERAS] == {}
    assert msgspec.json.decode(rec.snapshots["r1"]["cameras"]) == {}


def test_cameras_disabled_take_no_frame() -> None:
    f, _rec, sink, stats = fleet(enabled=False)
    hello(f, 0.0)
    f.received("r1", Camera(robot="r1", cameras=[FRONT]), 0.0)
    (chunk,) = CameraSender("r1", KEY, max_chunk=65536).frame("front", JPEG, 1.0)
    f.cameras.tcp_chunk("r1", chunk, 1.0)
    assert sink.frames == [] and stats.get("camera_dropped", "unknown_camera") == 1
