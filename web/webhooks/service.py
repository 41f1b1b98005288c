"""Webhook endpoints (admin) and their delivery log, in SQL. Secrets are sealed (data.key)."""

from __future__ import annotations

import os
import secrets

import orjson
from msgspec import UNSET
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from protocol.sealing import NONCE_BYTES, seal, unseal
from web.db.media import WebhookDelivery, WebhookEndpoint
from web.http.problems import Problem, not_found
from web.webhooks.schemas import (
    DeliveriesQuery,
    DeliveryOut,
    EndpointIn,
    EndpointOut,
    EndpointPatch,
)
from web.webhooks.targets import TargetRefused, check_target

AAD = "webhook-endpoint"  # binds a sealed secret to its use


def seal_secret(data_key: bytes, secret: str) -> str:
    return seal(data_key, AAD, secret.encode(), os.urandom(NONCE_BYTES))


def open_secret(keys: tuple[bytes, ...], sealed: str) -> bytes:
    err: Exception | None = None
    for key in keys:  # the current data key, then the previous one during a rotation
        try:
            return unseal(key, AAD, sealed)
        except ValueError as exc:
            err = exc
    raise ValueError(f"cannot open the endpoint's secret: {err}")


def endpoint_out(e: WebhookEndpoint, secret: str | None = None) -> EndpointOut:
    return EndpointOut(
        id=e.id,
        url=e.url,
        events=orjson.loads(e.events),
        description=e.description,
        enabled=e.enabled,
        failures=e.failures,
        disabled_reason=e.disabled_reason,
        created_by=e.created_by,
        created_at=e.created_at,
        updated_at=e.updated_at,
        secret=secret,
    )


def delivery_out(d: WebhookDelivery) -> DeliveryOut:
    return DeliveryOut(
        id=d.id,
        event_id=d.event_id,
        event_type=d.event_type,
        status=d.status,  # type: ignore[arg-type]
        attempts=d.attempts,
        last_status=d.last_status,
        last_error=d.last_error,
        created_at=d.created_at,
        updated_at=d.updated_at,
        delivered_at=d.delivered_at,
        payload=orjson.loads(d.payload),
    )


class EndpointService:
    def __init__(self, db: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def _key(self) -> bytes:
        key = self.settings.data.key_bytes
        if key is None:  # pragma: no cover - the web tier does not start without it
            raise Problem(503, "not_configured", "data.key is not set")
        return key

    async def _check(self, url: str) -> None:
        try:
            await check_target(url, self.settings.webhooks)
        except TargetRefused as exc:
            raise Problem(422, "url_refused", f"url: {exc}", field="url") from None

    async def create(self, body: EndpointIn, user: str) -> EndpointOut:
        await self._check(body.url)
        secret = body.secret or "whsec_" + secrets.token_urlsafe(32)
        e = WebhookEndpoint(
            url=body.url,
            events=orjson.dumps(sorted(set(body.events))).decode(),
            description=body.description,
            secret_sealed=seal_secret(self._key(), secret),
            created_by=user,
        )
        async with self.db.begin() as s:
            s.add(e)
        return endpoint_out(e, secret)

    async def all(self) -> list[EndpointOut]:
        async with self.db() as s:
            rows = await s.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id))
            return [endpoint_out(e) for e in rows]

    async def get(self, endpoint_id: int) -> EndpointOut:
        async with self.db() as s:
            e = await s.get(WebhookEndpoint, endpoint_id)
            if e is None:
                raise not_found("webhook endpoint", str(endpoint_id))
            return endpoint_out(e)

    async def update(self, endpoint_id: int, patch: EndpointPatch) -> EndpointOut:
        if patch.url is not UNSET:
            await self._check(patch.url)
        async with self.db.begin() as s:
            e = await s.get(WebhookEndpoint, endpoint_id, with_for_update=True)
            if e is None:
                raise not_found("webhook endpoint", str(endpoint_id))
            if patch.url is not UNSET:
                e.url = patch.url
            if patch.events is not UNSET:
                e.events = orjson.dumps(sorted(set(patch.events))).decode()
            if patch.description is not UNSET:
                e.description = patch.description
            if patch.secret is not UNSET:
                e.secret_sealed = seal_secret(self._key(), patch.secret)
            if patch.enabled is not UNSET:
                e.enabled = patch.enabled
                if patch.enabled:
                    e.failures, e.disabled_reason = 0, ""
                else:
                    e.disabled_reason = "disabled by an admin"
            await s.flush()
            return endpoint_out(e, None if patch.secret is UNSET else patch.secret)

    async def delete(self, endpoint_id: int) -> None:
        async with self.db.begin() as s:
            e = await s.get(WebhookEndpoint, endpoint_id)
            if e is None:
                raise not_found("webhook endpoint", str(endpoint_id))
            await s.delete(e)

    async def deliveries(
        self, endpoint_id: int, q: DeliveriesQuery
    ) -> tuple[list[DeliveryOut], int]:
        await self.get(endpoint_id)
        stmt = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint_id)
        if q.status:
            stmt = stmt.where(WebhookDelivery.status.in_(q.status))
        async with self.db() as s:
            total = int(await s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = await s.scalars(
                stmt.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
                .limit(q.limit)
                .offset(q.offset)
            )
            return [delivery_out(d) for d in rows], total
