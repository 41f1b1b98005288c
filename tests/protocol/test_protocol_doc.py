"""The test vectors in docs/protocol.md are what the code computes."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from protocol import auth
from protocol.messages import Telemetry
from protocol.udp import DatagramDecoder, encode_datagram

DOC = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
KEY = bytes(range(32))
ARGS = ("serve-001", "a1" * 16, "b2" * 16)


def test_handshake_vectors() -> None:
    assert f"hello proof   = {auth.hello_proof(KEY, *ARGS)}" in DOC
    assert f"welcome proof = {auth.welcome_proof(KEY, *ARGS)}" in DOC


def test_datagram_vector() -> None:
    block = DOC.split("**Test vector**")[1].split("```")[1]
    wire = bytes.fromhex(re.sub(r"\s", "", block))
    msg = Telemetry(
        robot="serve-001",
        seq=42,
        ts=1767225600.5,
        x=3.25,
        y=7.5,
        theta=1.5,
        battery=81.0,
        speed=0.7,
    )
    assert wire == encode_datagram(msg, KEY)
    got = DatagramDecoder({"serve-001": KEY}.get).decode(wire)
    assert isinstance(got, Telemetry) and msgspec.structs.asdict(got) == msgspec.structs.asdict(msg)


def test_state_tables_in_the_doc_match_the_code() -> None:
    from gateway.fleet.states import COOKING, SERVING

    serving_doc, cooking_doc = DOC.split("| serving robot |")[1].split("| cooking robot |")
    for table, text in ((SERVING, serving_doc), (COOKING, cooking_doc)):
        for state, nexts in table.items():
            if state in ("error", "estop"):
                continue
            row = re.search(rf"^\| `{state}` \| (.*) \|$", text, re.M)
            assert row, state
            assert set(re.findall(r"`(\w+)`", row.group(1))) == set(nexts), state


def test_camera_chunk_vectors() -> None:
    from protocol.camera_chunks import Chunk, ChunkDecoder, encode_chunks

    section = DOC.split("## 11. Cameras")[1].split("**Test vectors**")[1]
    blocks = section.split("```")[1::2]
    wire = [bytes.fromhex(re.sub(r"\s", "", b)) for b in blocks]
    frame = b"\xff\xd8" + bytes(range(16)) + b"\xff\xd9"
    assert wire == encode_chunks(
        "serve-001", "front", KEY, frame=7, data=frame, ts=1767225600.25, seq=100, max_chunk=89
    )
    dec = ChunkDecoder({"serve-001": KEY}.get, max_chunk=89)
    got = [dec.decode(w) for w in wire]
    assert all(isinstance(c, Chunk) for c in got)
    assert b"".join(c.payload for c in got if isinstance(c, Chunk)) == frame
