"""Robot authentication with a shared per-robot key (docs/protocol.md, section Authentication).

Every proof is HMAC-SHA256 over a domain-separated message, so a proof made
for one purpose (hello, welcome, datagram) can never be replayed as another.
Comparisons are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

__all__ = [
    "KEY_MIN_BYTES",
    "TAG_SIZE",
    "hello_proof",
    "parse_key",
    "sign",
    "verify",
    "welcome_proof",
]

KEY_MIN_BYTES: Final = 16
TAG_SIZE: Final = 32


def parse_key(text: str) -> bytes:
    """A robot key is written as hex; at least 128 bits."""
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError("must be hexadecimal") from None
    if len(key) < KEY_MIN_BYTES:
        raise ValueError(f"must be at least {KEY_MIN_BYTES} bytes ({2 * KEY_MIN_BYTES} hex digits)")
    return key


def sign(key: bytes, data: bytes) -> bytes:
    return hmac.digest(key, data, hashlib.sha256)


def verify(key: bytes, data: bytes, tag: bytes) -> bool:
    return hmac.compare_digest(hmac.digest(key, data, hashlib.sha256), tag)


def _transcript(label: str, robot: str, nonce: str, cnonce: str) -> bytes:
    return f"robodine/v1/{label}\n{robot}\n{nonce}\n{cnonce}".encode()


def hello_proof(key: bytes, robot: str, nonce: str, cnonce: str) -> str:
    """What the robot sends: it holds ``key`` and saw this connection's ``nonce``."""
    return sign(key, _transcript("hello", robot, nonce, cnonce)).hex()


def welcome_proof(key: bytes, robot: str, nonce: str, cnonce: str) -> str:
    """What the gateway sends back: it holds the key too (mutual authentication)."""
    return sign(key, _transcript("welcome", robot, nonce, cnonce)).hex()


def demo_key(robot: str) -> bytes:
    """The public key config/example.toml gives a robot: for the simulator, never a real robot."""
    return hashlib.sha256(f"robodine-demo:{robot}".encode()).digest()


def proofs_match(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


__all__ += ["demo_key", "proofs_match"]
