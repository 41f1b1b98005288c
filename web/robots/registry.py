"""The robots registry in SQL, mirrored to rd:registry so the gateway learns it without SQL.

A robot's key is a secret the gateway needs in clear (it checks HMACs with
it), so it cannot be hashed: it is sealed (AES-256-GCM, protocol.sealing)
under the data key ``ROBODINE_DATA_KEY`` with the robot id as associated
data, in SQL and in rd:registry alike. The key is made here, returned once
when the robot is created (or re-keyed), and never again.

Every change writes SQL and rd:registry and puts ``registry.sync`` on
rd:commands (docs/orders.md); the Redis side runs as one MULTI inside the
SQL transaction, so a Redis failure leaves SQL unchanged, and a failed
commit undoes the Redis side. Robots of the config file are fixed: the API
cannot add, edit, re-key or remove them.
"""

from __future__ import annotations

import contextlib
import secrets
import time
import uuid
from dataclasses import dataclass, field

import msgspec
import structlog
from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from protocol.sealing import NONCE_BYTES, SealError, seal, unseal
from protocol.streams import CommandRecord, CommandType, RegistryEntry, RegistryVda, to_fields
from protocol.vda5050.versions import SPOKEN, dialect_for, is_version
from robodine.redisio.keys import KEYS
from web.db.restaurant import RobotRow
from web.db.session import transaction
from web.http.problems import Problem, not_found
from web.robots.schemas import RobotIn, RobotPatch, VdaIdentity
from web.robots.snapshots import Registered, registered

log = structlog.get_logger("web.registry")

ROBOT_KEY_BYTES = 32


def sync_command(robot_id: str, source: str) -> CommandRecord:
    return CommandRecord(
        id=uuid.uuid4().hex,
        robot="",
        action="sync",
        ts=time.time(),
        type=CommandType.REGISTRY_SYNC,
        args={"robot": robot_id},
        source=source,
    )


def seal_key(data_key: bytes, robot_id: str, key: bytes) -> str:
    return seal(data_key, robot_id, key, secrets.token_bytes(NONCE_BYTES))


def vda_of(row: RobotRow) -> VdaIdentity | None:
    if row.vda_manufacturer is None or row.vda_serial is None:
        return None
    return VdaIdentity(
        manufacturer=row.vda_manufacturer, serial=row.vda_serial, version=row.vda_version
    )


def entry_json(row: RobotRow) -> bytes:
    assert row.key_sealed is not None
    vda = vda_of(row)
    entry = RegistryEntry(
        id=row.id,
        kind=row.kind,
        name=row.name,
        key=row.key_sealed,
        updated=time.time(),
        transport=row.transport,
        vda=None if vda is None else msgspec.convert(msgspec.to_builtins(vda), RegistryVda),
    )
    return msgspec.json.encode(entry)


async def sql_robots(db: async_sessionmaker[AsyncSession]) -> dict[str, Registered]:
    async with db() as s:
        rows = (await s.scalars(select(RobotRow))).all()
    return {
        r.id: registered(r.id, r.kind, r.name, r.network, r.source, r.transport, vda_of(r))
        for r in rows
    }


def transport_of(body: RobotIn) -> str:
    """The robot's transport as a config robot's would be: vda5050 when ``vda`` is given."""
    transport = body.transport or ("vda5050" if body.vda is not None else "tcp")
    if transport == "vda5050":
        if body.vda is None:
            raise _field("vda", "a vda5050 robot needs vda = {manufacturer, serial}", "vda")
        if body.kind != "serving":
            raise _field("kind", "a vda5050 robot must be of kind serving", "kind")
        if body.vda.version is not None and (
            not is_version(body.vda.version) or dialect_for(body.vda.version) is None
        ):
            raise _field("vda.version", f"must be a VDA 5050 version of {SPOKEN}", "vda.version")
    elif body.vda is not None:
        raise _field("vda", f"vda is set but transport is {transport!r}", "vda")
    return transport


def _field(name: str, detail: str, field: str) -> Problem:
    return Problem(422, "invalid_field", f"body: {detail}", field=field, extra={"in": "body"})


class RegistryService:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], redis: Redis, settings: Settings
    ) -> None:
        self.db, self.redis, self.settings = db, redis, settings

    @property
    def data_key(self) -> bytes:
        key = self.settings.data.key_bytes
        if key is None:  # checked at start (web.app.check_settings); kept for direct callers
            raise Problem(503, "data_key_missing", "no data key (ROBODINE_DATA_KEY) to seal keys")
        return key

    def _not_configured(self, robot_id: str, verb: str) -> None:
        if self.settings.robot(robot_id) is not None:
            raise Problem(
                409,
                "conflict",
                f"robot {robot_id!r} is in the config file, which wins; {verb} it there",
                field="id",
            )

    async def _publish(self, robot_id: str, entry: bytes | None, user: str) -> None:
        pipe = self.redis.pipeline(transaction=True)
        if entry is None:
            pipe.hdel(KEYS.registry, robot_id)
        else:
            pipe.hset(KEYS.registry, robot_id, entry)
        pipe.xadd(KEYS.commands, dict(to_fields(sync_command(robot_id, user))))  # type: ignore[arg-type]
        await pipe.execute()

    def _agv_free(self, robot_id: str, vda: VdaIdentity | None) -> None:
        """409 when a config robot is that AGV already (SQL's unique pair covers the rest)."""
        if vda is None:
            return
        for r in self.settings.robots:
            if r.vda is not None and (r.vda.manufacturer, r.vda.serial) == (
                vda.manufacturer,
                vda.serial,
            ):
                raise Problem(
                    409,
                    "conflict",
                    f"AGV {vda.manufacturer}/{vda.serial} is robot {r.id!r} of the config file",
                    field="vda",
                )

    async def create(self, body: RobotIn, user: str) -> tuple[RobotRow, str | None]:
        """(the robot, its key in hex: shown once; None for MQTT and VDA 5050 robots, whose
        key nobody needs: the broker login authenticates them)."""
        self._not_configured(body.id, "change")
        transport = transport_of(body)
        self._agv_free(body.id, body.vda)
        key = secrets.token_bytes(ROBOT_KEY_BYTES)
        vda = body.vda
        row = RobotRow(
            id=body.id,
            kind=body.kind,
            name=body.name,
            network=body.network,
            source="api",
            key_sealed=seal_key(self.data_key, body.id, key),
            created_by=user,
            transport=transport,
            vda_manufacturer=vda.manufacturer if vda else None,
            vda_serial=vda.serial if vda else None,
            vda_version=vda.version if vda else None,
        )
        published = False
        try:
            async with transaction(self.db) as s:
                if await s.get(RobotRow, body.id) is not None:
                    raise Problem(409, "conflict", f"robot {body.id!r} exists", field="id")
                if vda is not None and await s.scalar(
                    select(RobotRow.id).where(
                        RobotRow.vda_manufacturer == vda.manufacturer,
                        RobotRow.vda_serial == vda.serial,
                    )
                ):
                    raise Problem(
                        409,
                        "conflict",
                        f"AGV {vda.manufacturer}/{vda.serial} is registered already",
                        field="vda",
                    )
                s.add(row)
                await s.flush()
                await self._publish(body.id, entry_json(row), user)
                published = True
        except IntegrityError:
            raise Problem(409, "conflict", f"robot {body.id!r} exists", field="id") from None
        except BaseException:
            if published:  # the commit failed after Redis took it: take it back
                with contextlib.suppress(RedisError):
                    await self._publish(body.id, None, user)
            raise
        log.info("robot_registered", robot=body.id, kind=body.kind, transport=transport, user=user)
        return row, key.hex() if transport == "tcp" else None

    async def update(
        self, robot_id: str, patch: RobotPatch, user: str
    ) -> tuple[RobotRow, str | None]:
        """(the robot as changed, a new key in hex when its transport changed to tcp).

        The result is checked as a new robot is (``transport_of``, the AGV identity free).
        A change of transport gives the robot a new key, so a key known for TCP stops
        working when it moves to the broker, and nobody knows the key of a robot the
        broker authenticates. The gateway ends the robot's session when its kind, key,
        transport or identity changed (it reconnects as what it now is); a new name or
        network only relabels it."""
        self._not_configured(robot_id, "change")
        async with transaction(self.db) as s:
            row = await s.get(RobotRow, robot_id, with_for_update=True)
            if row is None or row.source != "api":
                raise not_found("robot added through the API", robot_id)
            kind = row.kind if patch.kind is msgspec.UNSET else patch.kind
            if patch.transport is not msgspec.UNSET:
                transport: str | None = patch.transport
            elif isinstance(patch.vda, VdaIdentity):
                transport = None  # as POST: vda given, no transport: vda5050
            else:
                transport = row.transport
            if patch.vda is not msgspec.UNSET:
                vda = patch.vda
            else:  # kept while it stays a VDA 5050 robot, dropped when it leaves
                vda = vda_of(row) if transport in (None, "vda5050") else None
            merged = RobotIn(
                id=robot_id,
                kind=kind,  # type: ignore[arg-type]
                transport=transport,  # type: ignore[arg-type]
                vda=vda,
            )
            new_transport = transport_of(merged)
            self._agv_free(robot_id, vda)
            if vda is not None and await s.scalar(
                select(RobotRow.id).where(
                    RobotRow.vda_manufacturer == vda.manufacturer,
                    RobotRow.vda_serial == vda.serial,
                    RobotRow.id != robot_id,
                )
            ):
                raise Problem(
                    409,
                    "conflict",
                    f"AGV {vda.manufacturer}/{vda.serial} is another robot already",
                    field="vda",
                )
            key: bytes | None = None
            if new_transport != row.transport:
                key = secrets.token_bytes(ROBOT_KEY_BYTES)
                row.key_sealed = seal_key(self.data_key, robot_id, key)
            if patch.name is not msgspec.UNSET:
                row.name = patch.name
            if patch.network is not msgspec.UNSET:
                row.network = patch.network
            row.kind = kind
            row.transport = new_transport
            row.vda_manufacturer = vda.manufacturer if vda else None
            row.vda_serial = vda.serial if vda else None
            row.vda_version = vda.version if vda else None
            try:
                await s.flush()
            except IntegrityError:  # the same AGV written by a concurrent request
                raise Problem(
                    409, "conflict", "that AGV is another robot already", field="vda"
                ) from None
            await self._publish(robot_id, entry_json(row), user)
        log.info(
            "robot_updated",
            robot=robot_id,
            kind=kind,
            transport=new_transport,
            new_key=key is not None,
            user=user,
        )
        return row, key.hex() if key is not None and new_transport == "tcp" else None

    async def rekey(self, robot_id: str, user: str) -> tuple[RobotRow, str]:
        self._not_configured(robot_id, "change its key")
        key = secrets.token_bytes(ROBOT_KEY_BYTES)
        async with transaction(self.db) as s:
            row = await s.get(RobotRow, robot_id, with_for_update=True)
            if row is None or row.source != "api":
                raise not_found("robot added through the API", robot_id)
            if row.transport != "tcp":
                raise Problem(
                    409,
                    "conflict",
                    f"robot {robot_id!r} uses {row.transport}: the broker login authenticates "
                    "it, it has no key to change",
                )
            row.key_sealed = seal_key(self.data_key, robot_id, key)
            await s.flush()
            await self._publish(robot_id, entry_json(row), user)
        log.info("robot_rekeyed", robot=robot_id, user=user)
        return row, key.hex()

    async def remove(self, robot_id: str, user: str) -> None:
        self._not_configured(robot_id, "remove")
        async with transaction(self.db) as s:
            row = await s.get(RobotRow, robot_id, with_for_update=True)
            if row is None or row.source != "api":
                raise not_found("robot added through the API", robot_id)
            await s.delete(row)
            await s.flush()
            await self._publish(robot_id, None, user)
        log.info("robot_unregistered", robot=robot_id, user=user)

    async def reconcile(self) -> list[str]:
        """Put back in rd:registry every API robot it lacks (Redis lost its data, say)."""
        async with self.db() as s:
            rows = (
                await s.scalars(
                    select(RobotRow).where(
                        RobotRow.source == "api", RobotRow.key_sealed.is_not(None)
                    )
                )
            ).all()
        present = {_s(k) for k in await self.redis.hkeys(KEYS.registry)}
        missing = [r for r in rows if r.id not in present]
        for row in missing:
            await self._publish(row.id, entry_json(row), "web")
        if missing:
            log.warning("registry_restored", robots=[r.id for r in missing])
        return [r.id for r in missing]


@dataclass
class Rotation:
    resealed_sql: int = 0
    resealed_redis: int = 0
    current: int = 0  # already under the new key
    failed: list[str] = field(default_factory=list)  # opens with neither key


def _reseal(new: bytes, old: bytes, robot_id: str, sealed: str, report: Rotation) -> str | None:
    """The value sealed under ``new``, or None when it already is (or cannot be opened)."""
    try:
        unseal(new, robot_id, sealed)
        report.current += 1
        return None
    except SealError:
        pass
    try:
        key = unseal(old, robot_id, sealed)
    except SealError as exc:
        report.failed.append(f"{robot_id}: {exc}")
        return None
    return seal_key(new, robot_id, key)


async def rotate_data_key(
    db: async_sessionmaker[AsyncSession], redis: Redis, new: bytes, old: bytes, *, source: str
) -> Rotation:
    """Re-seal every robot key from ``old`` to ``new`` in SQL and rd:registry; sync each.

    Idempotent: values already under ``new`` are left alone, so it can run at
    every start during a rotation, or be run again after a failure.
    """
    report = Rotation()
    changed: set[str] = set()
    async with transaction(db) as s:
        for row in await s.scalars(select(RobotRow).where(RobotRow.key_sealed.is_not(None))):
            assert row.key_sealed is not None
            fresh = _reseal(new, old, row.id, row.key_sealed, report)
            if fresh is not None:
                row.key_sealed = fresh
                report.resealed_sql += 1
                changed.add(row.id)
    for rid, raw in (await redis.hgetall(KEYS.registry)).items():
        robot_id = _s(rid)
        try:
            entry = msgspec.json.decode(raw, type=RegistryEntry)
        except msgspec.DecodeError:
            report.failed.append(f"{robot_id}: unreadable rd:registry entry")
            continue
        fresh = _reseal(new, old, robot_id, entry.key, report)
        if fresh is not None:
            entry = msgspec.structs.replace(entry, key=fresh, updated=time.time())
            await redis.hset(KEYS.registry, robot_id, msgspec.json.encode(entry))
            report.resealed_redis += 1
            changed.add(robot_id)
    for robot_id in sorted(changed):
        await redis.xadd(KEYS.commands, dict(to_fields(sync_command(robot_id, source))))  # type: ignore[arg-type]
    log.info(
        "data_key_rotated",
        resealed_sql=report.resealed_sql,
        resealed_redis=report.resealed_redis,
        current=report.current,
        failed=len(report.failed),
    )
    for problem in report.failed:
        log.error("data_key_rotation_failed", detail=problem)
    return report


def _s(v: object) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)
