"""/api/webhooks/endpoints: where integrators receive events; and each one's delivery log."""

from __future__ import annotations

import structlog
from aiohttp import web
from redis.exceptions import RedisError

from web.http.api import Routes
from web.keys import DB, REDIS, SETTINGS, USER
from web.security import ADMINS
from web.webhooks.delivery import ensure_group
from web.webhooks.schemas import (
    DeliveriesQuery,
    DeliveryList,
    EndpointIn,
    EndpointList,
    EndpointOut,
    EndpointPatch,
    EndpointPath,
)
from web.webhooks.service import EndpointService

log = structlog.get_logger("web.webhooks")
routes = Routes(
    "webhooks",
    "Outbound webhooks: admins register endpoints (URL, event types, secret); each matching "
    "event is POSTed signed (Robodine-Signature), retried with backoff, logged per endpoint. "
    "Admin only. docs/jobs.md shows how to verify a delivery.",
)


def _service(request: web.Request) -> EndpointService:
    return EndpointService(request.app[DB], request.app[SETTINGS])


@routes.route(
    "POST",
    "/api/webhooks/endpoints",
    summary="Register an endpoint",
    roles=ADMINS,
    body=EndpointIn,
    response=EndpointOut,
    status=201,
)
async def create_endpoint(request: web.Request, body: EndpointIn) -> EndpointOut:
    """The answer carries the `secret` (generated when not given): the only time it is shown.
    A URL whose host is this box (loopback, link-local, its own addresses) is 422
    `url_refused` unless `webhooks.allow_addresses` lists it."""
    out = await _service(request).create(body, request[USER].username)
    try:
        await ensure_group(request.app[REDIS])
    except RedisError as exc:  # the first worker to start makes it
        log.warning("webhook_group_not_created", error=str(exc))
    return out


@routes.route(
    "GET", "/api/webhooks/endpoints", summary="List endpoints", roles=ADMINS, response=EndpointList
)
async def list_endpoints(request: web.Request) -> EndpointList:
    """Every outbound webhook endpoint, with its events and failure count. Never its secret."""
    return EndpointList(items=await _service(request).all())


@routes.route(
    "GET",
    "/api/webhooks/endpoints/{endpoint_id}",
    summary="One endpoint",
    roles=ADMINS,
    params=EndpointPath,
    response=EndpointOut,
)
async def get_endpoint(request: web.Request, params: EndpointPath) -> EndpointOut:
    """One endpoint. Never its secret."""
    return await _service(request).get(params.endpoint_id)


@routes.route(
    "PATCH",
    "/api/webhooks/endpoints/{endpoint_id}",
    summary="Change an endpoint",
    roles=ADMINS,
    params=EndpointPath,
    body=EndpointPatch,
    response=EndpointOut,
)
async def update_endpoint(
    request: web.Request, params: EndpointPath, body: EndpointPatch
) -> EndpointOut:
    """`enabled: true` turns a disabled endpoint back on and resets its failure count; its
    deliveries skipped while it was off are not resent."""
    return await _service(request).update(params.endpoint_id, body)


@routes.route(
    "DELETE",
    "/api/webhooks/endpoints/{endpoint_id}",
    summary="Remove an endpoint",
    roles=ADMINS,
    params=EndpointPath,
    status=204,
)
async def delete_endpoint(request: web.Request, params: EndpointPath) -> None:
    """No more deliveries to it; its delivery log goes with it."""
    await _service(request).delete(params.endpoint_id)


@routes.route(
    "GET",
    "/api/webhooks/endpoints/{endpoint_id}/deliveries",
    summary="An endpoint's delivery log, newest first",
    roles=ADMINS,
    params=EndpointPath,
    query=DeliveriesQuery,
    response=DeliveryList,
)
async def list_deliveries(
    request: web.Request, params: EndpointPath, query: DeliveriesQuery
) -> DeliveryList:
    """Per event: `status` (pending, delivered, failed, skipped), `attempts`, the last HTTP
    status and error, and the exact body sent."""
    items, total = await _service(request).deliveries(params.endpoint_id, query)
    return DeliveryList(items=items, total=total)
