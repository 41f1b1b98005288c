"""The robot list as the web shows it: the registry merged with the gateway's snapshots.

The registry is the config file's ``[[robots]]`` (fixed, they win), the robots
added through the API (SQL, mirrored in rd:registry for the gateway), and
rd:registry itself (robots written there by other tools).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec
import structlog
from redis.asyncio import Redis

from config import Settings
from config.settings import RobotConfig
from protocol.streams import RobotSnapshot, from_fields
from robodine.redisio.keys import KEYS
from web.robots.schemas import RobotOut, VdaIdentity

log = structlog.get_logger("web.robots")


class Registered(msgspec.Struct, kw_only=True):
    """An rd:registry entry (protocol.streams.RegistryEntry) or a SQL robot, minus its key."""

    id: str
    kind: str = ""
    name: str = ""
    network: str = ""
    source: str = "api"
    transport: str = "tcp"
    vda: VdaIdentity | None = None


def _registry(raw: dict[str, str]) -> dict[str, Registered]:
    out = {}
    for rid, text in raw.items():
        try:
            entry = msgspec.json.decode(text, type=Registered)
        except msgspec.DecodeError as exc:
            log.warning("registry_entry_invalid", robot=rid, error=str(exc))
            continue
        out[rid] = entry
    return out


def registered(
    robot_id: str,
    kind: str,
    name: str,
    network: str,
    source: str,
    transport: str = "tcp",
    vda: VdaIdentity | None = None,
) -> Registered:
    return Registered(
        id=robot_id,
        kind=kind,
        name=name,
        network=network,
        source=source,
        transport=transport,
        vda=vda,
    )


def _merge(
    robot_id: str,
    configured: RobotConfig | None,
    fields: dict[str, str] | None,
    dynamic: Registered | None,
) -> RobotOut | None:
    reg = configured or dynamic
    snap: RobotSnapshot | None = None
    if fields:
        try:
            snap = from_fields(RobotSnapshot, {**fields, "id": robot_id})
        except msgspec.ValidationError as exc:
            log.warning("robot_snapshot_invalid", robot=robot_id, error=str(exc))
    if reg is None and snap is None:
        return None
    data: dict[str, Any] = msgspec.structs.asdict(snap) if snap else {"id": robot_id}
    data["registered"] = reg is not None
    if reg is not None:
        data["kind"] = str(reg.kind)
        data["name"] = reg.name or data.get("name") or ""
    if configured is not None:
        data["source"] = "config"
        data["network"] = dynamic.network if dynamic is not None else ""
        data["transport"] = configured.transport
        if configured.vda is not None:
            data["vda"] = configured.vda.model_dump()
    elif dynamic is not None:
        data["source"] = dynamic.source
        data["network"] = dynamic.network
        data["transport"] = dynamic.transport
        data["vda"] = dynamic.vda
    return msgspec.convert(data, RobotOut)


async def load_robots(
    redis: Redis,
    settings: Settings,
    ids: Iterable[str] | None = None,
    sql: dict[str, Registered] | None = None,
) -> list[RobotOut]:
    """Robots by id (default: every registered or ever-seen robot), sorted by id.

    ``sql``: the robots table (web/robots/registry.py ``sql_robots``), which wins over
    rd:registry for names and adds the network identity.
    """
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(KEYS.registry)
    pipe.smembers(KEYS.robots)
    raw_registry, seen = await pipe.execute()
    configured = {r.id: r for r in settings.robots}  # Settings.robot() is a scan per call
    sql = {
        rid: r
        for rid, r in (sql or {}).items()
        if r.source == "api" or rid in configured  # else: left the config file
    }
    dynamic = {**_registry(_text(raw_registry)), **sql}
    if ids is None:
        known = {_str(i) for i in seen} | set(configured) | set(dynamic)
        wanted = sorted(known)
    else:
        wanted = sorted(set(ids))
    if not wanted:
        return []
    pipe = redis.pipeline(transaction=False)
    for rid in wanted:
        pipe.hgetall(KEYS.robot(rid))
    hashes = await pipe.execute()
    out = []
    for rid, h in zip(wanted, hashes, strict=True):
        robot = _merge(rid, configured.get(rid), _text(h or {}), dynamic.get(rid))
        if robot is not None:
            out.append(robot)
    return out


def _str(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


def _text(raw: dict[object, object]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else str(k)): (
            v.decode() if isinstance(v, bytes) else str(v)
        )
        for k, v in raw.items()
    }
