from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.sealing import SealError, key_id, parse_data_key, seal, unseal

DK = bytes(range(32))
NONCE = bytes(12)


@given(
    st.binary(min_size=16, max_size=64),
    st.from_regex(r"\A[a-z0-9-]{1,20}\Z"),
    st.binary(min_size=12, max_size=12),
)
def test_round_trip(secret: bytes, robot: str, nonce: bytes) -> None:
    assert unseal(DK, robot, seal(DK, robot, secret, nonce)) == secret


def test_bound_to_the_robot_and_the_data_key() -> None:
    sealed = seal(DK, "serve-001", b"k" * 32, NONCE)
    with pytest.raises(SealError, match="another robot"):
        unseal(DK, "serve-002", sealed)
    other = bytes(32)
    with pytest.raises(SealError, match=f"sealed under data key {key_id(DK)}"):
        unseal(other, "serve-001", sealed)
    tampered = sealed[:-2] + ("00" if sealed[-2:] != "00" else "11")
    with pytest.raises(SealError, match="tampered"):
        unseal(DK, "serve-001", tampered)
    with pytest.raises(SealError, match="not a sealed key"):
        unseal(DK, "serve-001", "plain-hex-key")


def test_the_secret_does_not_appear_in_the_sealed_text() -> None:
    secret = bytes.fromhex("ab" * 32)
    assert "ab" * 8 not in seal(DK, "r", secret, NONCE)


def test_data_key_format() -> None:
    assert parse_data_key("00" * 32) == bytes(32)
    with pytest.raises(ValueError, match="32 bytes"):
        parse_data_key("00" * 16)
    with pytest.raises(ValueError, match="hexadecimal"):
        parse_data_key("zz" * 32)
