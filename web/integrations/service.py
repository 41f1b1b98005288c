"""Integrations in SQL: made with a key shown once, listed, revoked; shared by REST and the CLI."""

from __future__ import annotations

import secrets
from typing import cast

import msgspec
import orjson
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from web.db.integrations import Integration
from web.db.models import utcnow
from web.db.session import transaction
from web.http.integration_auth import KEY_PREFIX, key_hash
from web.http.problems import Problem, not_found
from web.http.schemas import RoleName
from web.integrations.schemas import IntegrationCreated, IntegrationIn, IntegrationOut


def make_key() -> tuple[str, str]:
    """(prefix, key): 48 bits to find it by, 256 bits of secret."""
    prefix = secrets.token_hex(6)
    return prefix, f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"


def _dump(values: list[str] | None) -> str | None:
    return None if values is None else orjson.dumps(sorted(set(values))).decode()


def _list(raw: str | None) -> list[str] | None:
    return None if raw is None else list(orjson.loads(raw))


def integration_out(row: Integration, default_rate: int) -> IntegrationOut:
    return IntegrationOut(
        name=row.name,
        description=row.description,
        role=cast(RoleName, row.role),
        robots=_list(row.robots),
        routes=_list(row.routes),
        rate_per_min=row.rate_per_min or default_rate,
        prefix=row.prefix,
        active=row.revoked_at is None,
        created_by=row.created_by,
        created_at=row.created_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
        last_used_address=row.last_used_address,
    )


class IntegrationService:
    def __init__(self, db: async_sessionmaker[AsyncSession], default_rate: int) -> None:
        self.db, self.default_rate = db, default_rate

    async def create(self, body: IntegrationIn, by: str) -> IntegrationCreated:
        prefix, key = make_key()
        try:
            async with transaction(self.db) as s:
                row = Integration(
                    name=body.name,
                    description=body.description,
                    role=body.role,
                    robots=_dump(body.robots),
                    routes=_dump(body.routes),
                    rate_per_min=body.rate_per_min,
                    prefix=prefix,
                    key_hash=key_hash(key),
                    version=1,
                    created_by=by,
                )
                s.add(row)
                await s.flush()
                out = integration_out(row, self.default_rate)
        except IntegrityError:
            raise Problem(
                409, "conflict", f"integration {body.name!r} already exists", field="name"
            ) from None
        return IntegrationCreated(**msgspec.structs.asdict(out), key=key)

    async def list(self) -> list[IntegrationOut]:
        async with self.db() as s:
            rows = await s.scalars(select(Integration).order_by(Integration.name))
            return [integration_out(r, self.default_rate) for r in rows]

    async def get(self, name: str) -> IntegrationOut:
        async with self.db() as s:
            row = await s.scalar(select(Integration).where(Integration.name == name))
        if row is None:
            raise not_found("integration", name)
        return integration_out(row, self.default_rate)

    async def revoke(self, name: str) -> tuple[IntegrationOut, bool]:
        """(the integration, whether this call revoked it: False when it already was)."""
        async with transaction(self.db) as s:
            row = await s.scalar(
                select(Integration).where(Integration.name == name).with_for_update()
            )
            if row is None:
                raise not_found("integration", name)
            changed = row.revoked_at is None
            if changed:
                row.revoked_at = utcnow()
                row.version += 1  # what ends its remembered keys and open feeds everywhere
                await s.flush()
            return integration_out(row, self.default_rate), changed
