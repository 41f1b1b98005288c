"""The robot list as the web shows it: config registry merged with the gateway's snapshots."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import structlog
from redis.asyncio import Redis

from config import Settings
from protocol.streams import ROBOTS_INDEX, RobotSnapshot, from_fields, robot_key
from web.schemas import RobotOut

log = structlog.get_logger("web.robots")


def _merge(robot_id: str, settings: Settings, fields: dict[str, str] | None) -> RobotOut | None:
    reg = settings.robot(robot_id)
    snap: RobotSnapshot | None = None
    if fields:
        try:
            snap = from_fields(RobotSnapshot, {**fields, "id": robot_id})
        except msgspec.ValidationError as exc:
            log.warning("robot_snapshot_invalid", robot=robot_id, error=str(exc))
    if reg is None and snap is None:
        return None
    data = msgspec.structs.asdict(snap) if snap else {"id": robot_id}
    data["registered"] = reg is not None
    if reg is not None:
        data["kind"] = str(reg.kind)
        data["name"] = reg.name or data.get("name") or ""
    return msgspec.convert(data, RobotOut)


async def load_robots(
    redis: Redis, settings: Settings, ids: Iterable[str] | None = None
) -> list[RobotOut]:
    """Robots by id (default: every registered or ever-seen robot), sorted by id."""
    if ids is None:
        seen = {
            i.decode() if isinstance(i, bytes) else i for i in await redis.smembers(ROBOTS_INDEX)
        }
        wanted = sorted(seen | {r.id for r in settings.robots})
    else:
        wanted = sorted(set(ids))
    if not wanted:
        return []
    pipe = redis.pipeline(transaction=False)
    for rid in wanted:
        pipe.hgetall(robot_key(rid))
    hashes = await pipe.execute()
    out = []
    for rid, h in zip(wanted, hashes, strict=True):
        fields = {
            (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in (h or {}).items()
        }
        robot = _merge(rid, settings, fields)
        if robot is not None:
            out.append(robot)
    return out
