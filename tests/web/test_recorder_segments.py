"""A camera's recording decisions without Redis or a store: reasons, segments, the seconds
kept before an incident; and the MP4 container when PyAV is there."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from config.settings import RecorderSettings
from web.recorder.avi import AviWriter, read_avi_frames
from web.recorder.segments import CameraRecorder


def jpeg(n: int) -> bytes:
    return b"\xff\xd8" + n.to_bytes(4, "big") * 10 + b"\xff\xd9"


def camera(**s: object) -> CameraRecorder:
    settings = RecorderSettings(incident_before_s=2, incident_after_s=3, segment_s=5, **s)
    return CameraRecorder("r1", "front", 64, 48, 10.0, settings, AviWriter)


def frames_of(path: Path) -> list[int]:
    return [int.from_bytes(f[2:6], "big") for f in read_avi_frames(path.read_bytes())]


def test_nothing_is_recorded_without_a_reason(tmp_path: Path) -> None:
    cam = camera()
    for n in range(50):
        assert cam.frame(jpeg(n), n / 10, n / 10, tmp_path) == []
    assert cam.segment is None and list(tmp_path.iterdir()) == []
    assert len(cam.preroll) <= 21  # the last 2 s at 10 fps


def test_an_incident_starts_with_the_seconds_before_it_and_ends_after(tmp_path: Path) -> None:
    cam = camera()
    for n in range(50):  # 5 s
        cam.frame(jpeg(n), n / 10, n / 10, tmp_path)
    cam.incident_at("e1", 4.95)
    closed = []
    for n in range(50, 100):  # 5 s more: the incident holds until 7.95
        closed += cam.frame(jpeg(n), n / 10, n / 10, tmp_path)
    (seg,) = closed
    assert (seg.reason, seg.incident) == ("incident", "e1")
    got = frames_of(seg.path)
    assert got[0] == 30 and got[-1] == 79  # from 2 s before the event to 3 s after it
    assert got == list(range(30, 80))
    assert seg.started == pytest.approx(3.0) and seg.ended == pytest.approx(7.9)


def test_long_recordings_are_cut_into_segments_and_reasons_rank(tmp_path: Path) -> None:
    cam = camera(continuous=True)
    closed = []
    for n in range(120):
        closed += cam.frame(jpeg(n), n / 10, n / 10, tmp_path)
    assert [s.reason for s in closed] == ["continuous", "continuous"]
    assert [s.frames for s in closed] == [50, 50]
    cam.request_until = 100.0
    closed = cam.frame(jpeg(120), 12.0, 12.0, tmp_path)  # a request outranks continuous
    assert [s.reason for s in closed] == ["continuous"] and cam.segment is not None
    assert cam.segment.reason == "request"
    assert [s.reason for s in cam.tick(12.5)] == []
    assert [s.reason for s in cam.tick(18.0)] == ["request"]  # quiet for 5 s: closed


def test_an_mp4_segment_is_h264_when_pyav_is_there(tmp_path: Path) -> None:
    av = pytest.importorskip("av")
    image = pytest.importorskip("PIL.Image")
    from web.recorder.mp4 import Mp4Writer

    w = Mp4Writer(tmp_path / "s.mp4", 64, 48, 10.0)
    for n in range(10):
        out = io.BytesIO()
        image.new("RGB", (64, 48), (n * 20, 100, 50)).save(out, "JPEG")
        w.add(out.getvalue(), 100.0 + n / 10)
    size = w.close()
    assert size == (tmp_path / "s.mp4").stat().st_size > 0
    with av.open(str(tmp_path / "s.mp4")) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert len(list(c.decode(stream))) == 10
