"""/api/alarms: the alarms raised from the event stream, and their acknowledgement."""

from __future__ import annotations

from aiohttp import web

from web.alarms.schemas import AckIn, AlarmList, AlarmOut, AlarmPath, AlarmsQuery
from web.alarms.service import AlarmService, publish
from web.http.api import Routes
from web.keys import DB, REDIS, SETTINGS, USER
from web.security import ALL_ROLES, WRITERS

routes = Routes(
    "alarms",
    "Robot faults, e-stops, low batteries, lost robots, VDA 5050 fatal errors and failed "
    "deliveries, raised from the event stream; staff acknowledge them.",
)


@routes.route(
    "GET",
    "/api/alarms",
    summary="List alarms",
    roles=ALL_ROLES,
    query=AlarmsQuery,
    response=AlarmList,
    errors=(401, 422),
)
async def list_alarms(request: web.Request, query: AlarmsQuery) -> AlarmList:
    """Newest first. `state`: `open` (default: active, or cleared and not yet acknowledged),
    `needs_ack` (what the dashboard's banner shows), `active`, `all`. `needs_ack` in the
    answer counts every alarm waiting for an acknowledgement, whatever the filters."""
    items, total, pending = await AlarmService(request.app[DB]).page(query)
    return AlarmList(items=items, total=total, needs_ack=pending)


@routes.route(
    "GET",
    "/api/alarms/{alarm_id}",
    summary="One alarm with its history",
    roles=ALL_ROLES,
    params=AlarmPath,
    response=AlarmOut,
    errors=(401, 404),
)
async def get_alarm(request: web.Request, params: AlarmPath) -> AlarmOut:
    """`history`: raised, repeated, cleared, acked, escalated, each with when and by whom
    (a user, or the event type that did it)."""
    return await AlarmService(request.app[DB]).get(params.alarm_id)


@routes.route(
    "POST",
    "/api/alarms/{alarm_id}/ack",
    summary="Acknowledge an alarm",
    roles=WRITERS,
    params=AlarmPath,
    body=AckIn,
    response=AlarmOut,
    errors=(400, 401, 403, 404, 413, 415, 422),
)
async def ack_alarm(request: web.Request, params: AlarmPath, body: AckIn) -> AlarmOut:
    """Records who and when (and the note), writes an `alarm.acked` event, and takes the
    alarm out of the banner and of escalation. An alarm acknowledged before answers as it
    is (the first acknowledgement stands)."""
    out, notices = await AlarmService(request.app[DB]).ack(
        params.alarm_id, request[USER].username, body.note
    )
    await publish(request.app[REDIS], notices, request.app[SETTINGS].web.name)
    return out
