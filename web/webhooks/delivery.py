"""Outbound webhooks in the worker: events into deliveries (fan-out), deliveries onto the wire.

Fan-out is a consumer group (``webhooks``) on rd:events and rd:jobs: each
entry that maps to an event type (web/webhooks/events.py) gets one delivery
row per enabled endpoint that subscribed to it (unique per endpoint and
event, so an entry read twice makes no second delivery) and one job on the
deliveries queue keyed by the delivery id (SAQ refuses a second job with a
live key). The row is written and the job queued before the entry is
acknowledged: a crash anywhere re-reads the entry and completes what is
missing. Delivery runs as a SAQ job too, so it inherits the queue's retries
with exponential backoff and jitter, and its redelivery after a crash.

Each attempt POSTs the row's exact JSON body with ``Robodine-Signature``,
``Robodine-Event-Id`` (= ``Idempotency-Key`` = the body's ``id``) and
``Robodine-Event-Type``. 2xx: delivered. Anything else (a redirect, a
timeout, a refused target) counts as a failure of the endpoint; after
``webhooks.disable_after`` failures in a row the endpoint is disabled and
its pending deliveries are skipped. At-least-once: a receiver that answered
2xx just before our crash gets the event again, with the same id.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson
import structlog
from redis.asyncio import Redis
from redis.exceptions import ResponseError
from saq.job import Job
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from robodine import signing
from robodine.redisio.keys import KEYS
from web.consumer import Entry
from web.db.media import WebhookDelivery, WebhookEndpoint
from web.jobs.queue import JobQueue, TaggedJob
from web.webhooks.events import event_id, outbound
from web.webhooks.service import open_secret
from web.webhooks.targets import TargetRefused, check_target

log = structlog.get_logger("web.webhooks")
GROUP = "webhooks"
FUNCTION = "deliver"
USER_AGENT = "Robodine-Webhooks/1"


async def ensure_group(redis: Redis) -> None:
    """The fan-out group, from now: made when an endpoint is registered, so events that
    come before any worker runs are delivered too (a worker makes it as well)."""
    for stream in (KEYS.events, KEYS.jobs):
        try:
            await redis.xgroup_create(stream, GROUP, id="$", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise


class DeliveryFailed(Exception):
    pass


class Fanout:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], queue: JobQueue, settings: Settings
    ) -> None:
        self.db = db
        self.queue = queue
        self.settings = settings

    async def handle(self, stream: str, entries: Sequence[Entry]) -> None:
        events = []
        for sid, fields in entries:
            ev = outbound(stream, sid, fields)
            if ev is not None:
                eid = event_id(stream, sid)
                ts = float(fields.get("ts") or time.time())
                events.append(
                    (eid, ev[0], {"id": eid, "type": ev[0], "created": ts, "data": ev[1]})
                )
        if not events:
            return
        async with self.db() as s:
            endpoints = [
                (e.id, set(orjson.loads(e.events)))
                for e in await s.scalars(
                    select(WebhookEndpoint).where(WebhookEndpoint.enabled.is_(True))
                )
            ]
        for eid, etype, payload in events:
            for endpoint_id, types in endpoints:
                if etype in types:
                    await self._deliver(endpoint_id, eid, etype, payload)

    async def _deliver(
        self, endpoint_id: int, eid: str, etype: str, payload: dict[str, Any]
    ) -> None:
        row = WebhookDelivery(
            id=uuid.uuid4().hex,
            endpoint_id=endpoint_id,
            event_id=eid,
            event_type=etype,
            payload=orjson.dumps(payload).decode(),
        )
        try:
            async with self.db.begin() as s:
                s.add(row)
            delivery_id = row.id
        except IntegrityError:  # this entry was read before: keep the delivery it made
            async with self.db() as s:
                found = await s.scalar(
                    select(WebhookDelivery).where(
                        WebhookDelivery.endpoint_id == endpoint_id, WebhookDelivery.event_id == eid
                    )
                )
            if found is None or found.status != "pending":
                return
            delivery_id = found.id
        w = self.settings.webhooks
        await self.queue.deliveries.enqueue(
            TaggedJob(
                function=FUNCTION,
                kwargs={"delivery": delivery_id},
                key=delivery_id,
                timeout=int(w.timeout_s) + 5,
                heartbeat=self.settings.jobs.heartbeat_s,
                retries=w.retries,
                retry_delay=w.retry_delay_s,
                retry_backoff=w.retry_max_delay_s or True,
                ttl=self.settings.jobs.keep_finished_s,
            )
        )


class Sender:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], settings: Settings, http: aiohttp.ClientSession
    ) -> None:
        self.db = db
        self.settings = settings
        self.http = http

    async def __call__(self, ctx: dict[str, Any], *, delivery: str) -> dict[str, Any]:
        job: Job = ctx["job"]
        last = job.attempts >= job.retries
        async with self.db() as s:
            d = await s.get(WebhookDelivery, delivery)
            e = await s.get(WebhookEndpoint, d.endpoint_id) if d is not None else None
        if d is None or e is None or d.status != "pending":
            return {"status": "gone" if d is None else d.status}
        if not e.enabled:
            await self._finish(delivery, "skipped", error=f"endpoint disabled: {e.disabled_reason}")
            return {"status": "skipped"}
        body = d.payload.encode()
        ts = int(time.time())
        secret = open_secret(self.settings.data.keys, e.secret_sealed)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            signing.HEADER: signing.sign(secret, body, ts),
            "Robodine-Event-Id": d.event_id,
            "Robodine-Event-Type": d.event_type,
            "Idempotency-Key": d.event_id,
        }
        status: int | None = None
        try:
            await check_target(e.url, self.settings.webhooks)
            async with self.http.post(
                e.url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self.settings.webhooks.timeout_s),
            ) as r:
                status = r.status
                if 200 <= r.status < 300:
                    await self._delivered(delivery, e.id, r.status)
                    return {"status": "delivered", "http": r.status}
                error = f"HTTP {r.status}: {(await r.text(errors='replace'))[:200]}"
        except TargetRefused as exc:
            error = str(exc)
        except TimeoutError:
            error = f"timed out after {self.settings.webhooks.timeout_s:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"
        disabled = await self._failed(delivery, e.id, status, error, final=last)
        log.warning(
            "webhook_attempt_failed",
            endpoint=e.id,
            delivery=delivery,
            attempt=job.attempts,
            error=error,
            disabled=disabled,
        )
        if last or disabled:
            return {"status": "failed", "error": error}
        raise DeliveryFailed(error)  # SAQ retries it after the backoff

    async def _delivered(self, delivery: str, endpoint_id: int, status: int) -> None:
        now = datetime.now(UTC)
        async with self.db.begin() as s:
            await s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery)
                .values(
                    status="delivered",
                    attempts=WebhookDelivery.attempts + 1,
                    last_status=status,
                    last_error="",
                    delivered_at=now,
                    updated_at=now,
                )
            )
            await s.execute(
                update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id).values(failures=0)
            )

    async def _failed(
        self, delivery: str, endpoint_id: int, status: int | None, error: str, *, final: bool
    ) -> bool:
        """Record a failed attempt; True when it disabled the endpoint."""
        limit = self.settings.webhooks.disable_after
        async with self.db.begin() as s:
            e = await s.get(WebhookEndpoint, endpoint_id, with_for_update=True)
            disabled = False
            if e is not None:
                e.failures += 1
                if e.enabled and e.failures >= limit:
                    e.enabled = False
                    e.disabled_reason = f"{e.failures} failed attempts in a row; last: {error}"[
                        :200
                    ]
                    disabled = True
            values: dict[str, Any] = {
                "attempts": WebhookDelivery.attempts + 1,
                "last_status": status,
                "last_error": error[:2000],
                "updated_at": datetime.now(UTC),
            }
            if final or disabled:
                values["status"] = "failed"
            await s.execute(
                update(WebhookDelivery).where(WebhookDelivery.id == delivery).values(**values)
            )
            if disabled:
                await s.execute(
                    update(WebhookDelivery)
                    .where(
                        WebhookDelivery.endpoint_id == endpoint_id,
                        WebhookDelivery.status == "pending",
                        WebhookDelivery.id != delivery,
                    )
                    .values(status="skipped", last_error="endpoint disabled")
                )
        if disabled:
            log.warning("webhook_endpoint_disabled", endpoint=endpoint_id, error=error)
        return disabled

    async def _finish(self, delivery: str, status: str, *, error: str) -> None:
        async with self.db.begin() as s:
            await s.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == delivery)
                .values(status=status, last_error=error[:2000], updated_at=datetime.now(UTC))
            )
