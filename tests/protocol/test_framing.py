from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from protocol.framing import NEED_DATA, FrameDecoder, encode_frame
from protocol.vocabulary import ErrorCode

bodies = st.lists(st.binary(min_size=1, max_size=300), max_size=20)


def drain(dec: FrameDecoder) -> list[bytes]:
    out = []
    while (frame := dec.next_frame()) is not NEED_DATA:
        out.append(frame)
    return out


@given(bodies, st.data())
def test_frames_survive_any_split_and_coalescing(frames: list[bytes], data: st.DataObject) -> None:
    wire = b"".join(encode_frame(b) for b in frames)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=10)))
    dec = FrameDecoder()
    got: list[bytes] = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        dec.receive_data(wire[a:b]) if b > a else None
        got += drain(dec)
    assert got == frames
    assert dec.buffered == 0


@given(st.binary(max_size=2000))
def test_arbitrary_bytes_only_ever_raise_remote_protocol_errors(data: bytes) -> None:
    dec = FrameDecoder(max_frame=512)
    dec.receive_data(data)
    dec.receive_data(b"")
    for _ in range(len(data) + 2):
        try:
            if dec.next_frame() is NEED_DATA:
                break
        except RemoteProtocolError:
            continue


def test_oversized_frame_is_refused_from_its_header_then_skipped() -> None:
    dec = FrameDecoder(max_frame=100)
    dec.receive_data(struct.pack(">I", 10_000_000) + b"x" * 50)
    with pytest.raises(RemoteProtocolError) as err:
        dec.next_frame()
    assert err.value.code == ErrorCode.FRAME_TOO_LARGE
    assert "10000000" in err.value.message and "100" in err.value.message
    assert dec.buffered == 0  # nothing of the body kept
    dec.receive_data(b"x" * (10_000_000 - 50))  # the rest of the refused frame
    dec.receive_data(encode_frame(b'{"ok":1}'))
    assert drain(dec) == [b'{"ok":1}']


def test_empty_frame_and_truncation_at_eof() -> None:
    dec = FrameDecoder()
    dec.receive_data(struct.pack(">I", 0) + encode_frame(b"a"))
    with pytest.raises(RemoteProtocolError, match="empty frame"):
        dec.next_frame()
    assert dec.next_frame() == b"a"
    dec.receive_data(encode_frame(b"abcdef")[:-2])
    assert dec.next_frame() is NEED_DATA
    dec.receive_data(b"")
    with pytest.raises(RemoteProtocolError, match="inside a frame"):
        dec.next_frame()


def test_encoding_outside_the_limits_is_our_bug() -> None:
    with pytest.raises(LocalProtocolError):
        encode_frame(b"")
    with pytest.raises(LocalProtocolError):
        encode_frame(b"x" * 11, max_frame=10)


def test_protocol_error_base_is_abstract() -> None:
    with pytest.raises(TypeError):
        ProtocolError("no side")
