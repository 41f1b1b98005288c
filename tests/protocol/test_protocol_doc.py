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
