"""Robot keys sealed at rest: AES-256-GCM under a data key, bound to the robot id.

A robot key is a shared secret the gateway needs in clear (to check HMACs),
so it cannot be hashed like a password. Wherever it is stored (SQL, the
registry copy in Redis) it is sealed::

    v1:<kid>:<nonce hex>:<ciphertext+tag hex>

``kid`` names the data key (a hash of it, not the key), so a value sealed under
an older key is recognised as such after a rotation instead of failing as
"tampered". The robot id is the associated data: a sealed key copied onto
another robot does not open. Pure: the caller supplies the nonce.
"""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "DATA_KEY_BYTES",
    "NONCE_BYTES",
    "SealError",
    "key_id",
    "parse_data_key",
    "seal",
    "unseal",
]

DATA_KEY_BYTES = 32
NONCE_BYTES = 12
_VERSION = "v1"


class SealError(ValueError):
    """A sealed value that does not open: wrong data key, wrong robot, or tampered."""


def parse_data_key(text: str) -> bytes:
    try:
        key = bytes.fromhex(text)
    except ValueError:
        raise ValueError("must be hexadecimal") from None
    if len(key) != DATA_KEY_BYTES:
        raise ValueError(f"must be {DATA_KEY_BYTES} bytes ({2 * DATA_KEY_BYTES} hex digits)")
    return key


def key_id(data_key: bytes) -> str:
    return hashlib.sha256(b"robodine/data-key-id\n" + data_key).hexdigest()[:8]


def seal(data_key: bytes, robot: str, secret: bytes, nonce: bytes) -> str:
    if len(nonce) != NONCE_BYTES:
        raise ValueError(f"nonce must be {NONCE_BYTES} bytes")
    box = AESGCM(data_key).encrypt(nonce, secret, robot.encode())
    return f"{_VERSION}:{key_id(data_key)}:{nonce.hex()}:{box.hex()}"


def unseal(data_key: bytes, robot: str, sealed: str) -> bytes:
    parts = sealed.split(":")
    if len(parts) != 4 or parts[0] != _VERSION:
        raise SealError("not a sealed key (expected v1:kid:nonce:box)")
    _, kid, nonce, box = parts
    if kid != key_id(data_key):
        raise SealError(f"sealed under data key {kid}, not the current one ({key_id(data_key)})")
    try:
        return AESGCM(data_key).decrypt(bytes.fromhex(nonce), bytes.fromhex(box), robot.encode())
    except (InvalidTag, ValueError):
        raise SealError("does not open: tampered, or sealed for another robot") from None
