"""Robots added through the API: rd:registry entries -> robot configs the fleet can serve.

The web tier writes a robot to SQL and to the hash rd:registry (its key
sealed, protocol.sealing), then puts ``registry.sync`` on rd:commands; the
gateway reads the entry back from Redis, so it never touches SQL and no key
ever travels through a stream.
"""

from __future__ import annotations

import msgspec
from pydantic import ValidationError

from config.settings import RobotConfig
from protocol.sealing import SealError, unseal
from protocol.streams import RegistryEntry


class RegistryError(ValueError):
    pass


def robot_from_entry(robot_id: str, raw: bytes, data_key: bytes | None) -> RobotConfig:
    """Decode and unseal one rd:registry entry; RegistryError says what is wrong."""
    if data_key is None:
        raise RegistryError("no data key (ROBODINE_DATA_KEY) to unseal its key")
    try:
        entry = msgspec.json.decode(raw, type=RegistryEntry)
    except msgspec.DecodeError as exc:
        raise RegistryError(f"unreadable entry: {exc}") from None
    if entry.id != robot_id:
        raise RegistryError(f"entry names robot {entry.id!r}")
    try:
        key = unseal(data_key, robot_id, entry.key)
        return RobotConfig(id=robot_id, kind=entry.kind, key=key.hex(), name=entry.name)
    except SealError as exc:
        raise RegistryError(f"its key {exc}") from None
    except ValidationError as exc:
        raise RegistryError(f"invalid entry: {exc.errors()[0]['msg']}") from None
