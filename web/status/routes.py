"""``GET /api/status`` (admin): the document `robodine status` prints, made by this process."""

from __future__ import annotations

from aiohttp import web

from web.http.api import Routes
from web.keys import ENGINE, REDIS, SETTINGS
from web.security import ADMINS, WRITERS
from web.status import StatusOut, collect, probing
from web.status.cluster import ClusterOut, read_cluster

routes = Routes("status", "The whole system's health, as `robodine status --json` reports it.")


@routes.route(
    "GET",
    "/api/status",
    summary="Is the whole system healthy?",
    roles=ADMINS,
    response=StatusOut,
    errors=(401, 403),
)
async def status(request: web.Request) -> StatusOut:
    """Redis, the broker, the gateway, the web tier, robots by kind and connection, the
    spool, streams and consumer groups, the projector, the database and outbox, the last
    alarms; `status` is `ok`, `degraded` or `down` (docs/operations.md, Status). Always 200:
    the document says what is wrong."""
    app = request.app
    settings = app[SETTINGS]
    async with probing(
        settings, redis=app[REDIS], engine=app[ENGINE], web_here=settings.web.name
    ) as probe:
        return await collect(probe)


@routes.route(
    "GET",
    "/api/cluster",
    summary="The gateways of the site, the leader and who holds which robot",
    roles=WRITERS,
    response=ClusterOut,
    errors=(401, 403),
)
async def cluster(request: web.Request) -> ClusterOut:
    """From Redis only (docs/scaling.md): every gateway registered, whether it is alive,
    the robots whose lease it holds and its inbox; the leader and its epoch (the fencing
    token of its dispatch writes); the robot leases counted; the robots no gateway holds.
    With one gateway per Redis (`[cluster]` off) `enabled` is false and the lists are
    empty. 503 while Redis does not answer."""
    app = request.app
    return await read_cluster(app[REDIS], app[SETTINGS])
