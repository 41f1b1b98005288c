"""Robots added through the API: rd:registry entries -> robot configs the fleet can serve.

The web tier writes a robot to SQL and to the hash rd:registry (its key
sealed, protocol.sealing), then puts ``registry.sync`` on rd:commands; the
gateway reads the entry back from Redis, so it never touches SQL and no key
ever travels through a stream. An entry carries the robot's transport and VDA
5050 identity as a config robot does, so the MQTT and VDA 5050 routers serve
it like one (``Fleet.on_registry``).
"""

from __future__ import annotations

import msgspec
from pydantic import ValidationError

from config.settings import RobotConfig
from protocol.sealing import SealError, unseal
from protocol.streams import RegistryEntry


class RegistryError(ValueError):
    pass


def robot_from_entry(robot_id: str, raw: bytes, data_keys: tuple[bytes, ...]) -> RobotConfig:
    """Decode and unseal one rd:registry entry; RegistryError says what is wrong.

    ``data_keys``: the current data key, then the previous one during a
    rotation, so entries the web tier re-sealed under the new key and those it
    has not reached yet both open (docs/orders.md, key rotation).
    """
    if not data_keys:
        raise RegistryError("no data key (ROBODINE_DATA_KEY) to unseal its key")
    try:
        entry = msgspec.json.decode(raw, type=RegistryEntry)
    except msgspec.DecodeError as exc:
        raise RegistryError(f"unreadable entry: {exc}") from None
    if entry.id != robot_id:
        raise RegistryError(f"entry names robot {entry.id!r}")
    key: bytes | None = None
    error: SealError | None = None
    for data_key in data_keys:
        try:
            key = unseal(data_key, robot_id, entry.key)
            break
        except SealError as exc:
            error = error or exc  # report against the current key
    if key is None:
        raise RegistryError(f"its key {error}")
    vda = msgspec.to_builtins(entry.vda) if entry.vda is not None else None
    try:
        return RobotConfig(
            id=robot_id,
            kind=entry.kind,
            key=key.hex(),
            name=entry.name,
            transport=entry.transport,  # checked by the model
            vda=vda,
        )
    except ValidationError as exc:
        raise RegistryError(f"invalid entry: {exc.errors()[0]['msg']}") from None
