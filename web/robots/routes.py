"""Robots: list and detail (registry + snapshot), registry writes, recent telemetry, commands."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

import msgspec
import orjson
import structlog
from aiohttp import web

from protocol.streams import CommandRecord, TelemetryRecord
from protocol.vocabulary import ACTIONS_BY_KIND, CommandAction, RobotKind
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import as_str, entries_of
from robodine.redisio.streamid import ZERO, StreamId
from web.feeds.topic import decode_entries
from web.http.api import Routes, idempotency_key
from web.http.jsonutil import dumps, json_response
from web.http.microcache import MicroCache, respond
from web.http.problems import Problem, not_found
from web.keys import DB, REDIS, SETTINGS, USER
from web.robots import command_status
from web.robots.command_status import STATUS, WAITERS, wait_for_outcome
from web.robots.registry import RegistryService, sql_robots
from web.robots.schemas import (
    NEEDS_ARGS,
    ActionOut,
    CommandAccepted,
    CommandIn,
    CommandOut,
    CommandPage,
    CommandPath,
    CommandsQuery,
    CommandWaitQuery,
    DockCommand,
    GotoCommand,
    RobotCreated,
    RobotIn,
    RobotKindList,
    RobotKindOut,
    RobotList,
    RobotOut,
    RobotPatch,
    RobotPath,
    RobotUpdated,
    TelemetryEntry,
    TelemetryPage,
    TelemetryQuery,
)
from web.robots.snapshots import load_robots
from web.security import ADMINS, ALL_ROLES, WRITERS, iso

log = structlog.get_logger("web.robots")

IDEMPOTENCY_TTL_S = 24 * 3600
# GET /api/robots answers a list read at most this long before the request (docs/api.md).
LIST_MAX_AGE_S = 0.5
ROBOT_LIST = web.AppKey("robot_list", MicroCache)


def _setup(app: web.Application) -> None:
    async def read() -> bytes:
        sql = await sql_robots(app[DB])
        return dumps(RobotList(items=await load_robots(app[REDIS], app[SETTINGS], sql=sql)))

    app[ROBOT_LIST] = MicroCache(
        read, LIST_MAX_AGE_S, gzip_min_bytes=app[SETTINGS].web.gzip_min_bytes
    )
    command_status.setup(app)


routes = Routes("robots", "Robots as the gateway reports them, and commands to them.", setup=_setup)


@routes.route(
    "GET",
    "/api/robot-kinds",
    summary="The robot kinds and the commands each carries out",
    roles=ALL_ROLES,
    response=RobotKindList,
    errors=(401,),
)
async def robot_kinds(request: web.Request) -> RobotKindList:
    """What `POST /api/robots/{robot_id}/commands` accepts per kind (any other action is a 422
    naming `action`); `needs_args` says which must carry `args`. The dashboard draws its command
    buttons from this."""
    return RobotKindList(
        items=[
            RobotKindOut(
                kind=str(kind),
                actions=[
                    ActionOut(action=str(a), needs_args=NEEDS_ARGS[str(a)])
                    for a in CommandAction
                    if a in ACTIONS_BY_KIND[kind]
                ],
            )
            for kind in RobotKind
        ]
    )


@routes.route(
    "GET",
    "/api/robots",
    summary="Every robot: registry and latest state",
    roles=ALL_ROLES,
    response=RobotList,
    errors=(401,),
    headers=("If-None-Match",),
    response_headers=("ETag",),
)
async def list_robots(request: web.Request) -> web.Response:
    """Robots of the config's `[[robots]]`, robots added through the API, and every robot the
    gateway has a snapshot of. `source` says where a robot is registered. The list is read at
    most 0.5 s before the request (robots added or removed here show at once); it carries an
    `ETag`, and `If-None-Match` with it answers 304 while nothing changed."""
    cache = request.app[ROBOT_LIST]
    return respond(request, cache.fresh() or await cache.get(), cache.gzip_min_bytes)


async def _robot(request: web.Request, robot_id: str) -> RobotOut:
    app = request.app
    sql = await sql_robots(app[DB])
    found = await load_robots(app[REDIS], app[SETTINGS], [robot_id], sql=sql)
    if not found:
        raise not_found("robot", robot_id)
    return found[0]


def _registry(request: web.Request) -> RegistryService:
    return RegistryService(request.app[DB], request.app[REDIS], request.app[SETTINGS])


@routes.route(
    "POST",
    "/api/robots",
    summary="Register a robot (its key is shown once)",
    roles=ADMINS,
    body=RobotIn,
    response=RobotCreated,
    status=201,
    errors=(409,),
)
async def create_robot(request: web.Request, body: RobotIn) -> RobotCreated:
    """The server makes the robot's key (32 random bytes) and answers it in `key`, in hex,
    this once: configure it in the robot. It is stored sealed (AES-256-GCM under
    `ROBODINE_DATA_KEY`) and never returned again. The gateway learns the robot without a
    restart (`registry.changed` event). A robot of the config file is a 409."""
    row, key = await _registry(request).create(body, request[USER].username)
    request.app[ROBOT_LIST].invalidate()
    robot = await _robot(request, row.id)
    return RobotCreated(**msgspec.structs.asdict(robot), key=key)


@routes.route(
    "POST",
    "/api/robots/{robot_id}/key",
    summary="Give a robot a new key (shown once)",
    roles=ADMINS,
    params=RobotPath,
    response=RobotCreated,
    errors=(404, 409),
)
async def rekey_robot(request: web.Request, params: RobotPath) -> RobotCreated:
    """The old key stops working at once: the gateway closes the robot's connection until it
    proves the new one."""
    row, key = await _registry(request).rekey(params.robot_id, request[USER].username)
    robot = await _robot(request, row.id)
    return RobotCreated(**msgspec.structs.asdict(robot), key=key)


@routes.route(
    "PATCH",
    "/api/robots/{robot_id}",
    summary="Change a robot added through the API",
    roles=ADMINS,
    params=RobotPath,
    body=RobotPatch,
    response=RobotUpdated,
    errors=(404, 409, 422),
)
async def update_robot(request: web.Request, params: RobotPath, body: RobotPatch) -> RobotUpdated:
    """Name, network, kind, transport and AGV identity, checked as `POST /api/robots` checks
    a new robot (an AGV that is another robot is a 409 on `vda`; a config-file robot is a
    409: the file wins, change it there). The gateway picks the change up without a restart
    (`registry.sync`): a new kind, transport or identity ends the robot's session, so a
    connected robot is dropped and must come back as what it now is (on its new transport);
    a new name or network only relabels it. A change of transport gives the robot a new key,
    answered in `key` this once when the robot is now a TCP robot."""
    row, key = await _registry(request).update(params.robot_id, body, request[USER].username)
    request.app[ROBOT_LIST].invalidate()
    robot = await _robot(request, row.id)
    return RobotUpdated(**msgspec.structs.asdict(robot), key=key)


@routes.route(
    "DELETE",
    "/api/robots/{robot_id}",
    summary="Remove a robot added through the API",
    roles=ADMINS,
    params=RobotPath,
    status=204,
    errors=(404, 409),
)
async def delete_robot(request: web.Request, params: RobotPath) -> None:
    """The gateway drops it (and its connection) without a restart. Config-file robots: 409."""
    await _registry(request).remove(params.robot_id, request[USER].username)
    request.app[ROBOT_LIST].invalidate()


@routes.route(
    "GET",
    "/api/robots/{robot_id}",
    summary="One robot",
    roles=ALL_ROLES,
    params=RobotPath,
    response=RobotOut,
    errors=(401, 404),
)
async def get_robot(request: web.Request, params: RobotPath) -> RobotOut:
    """The registry entry merged with the gateway's snapshot `rd:robot:{id}`: every field
    present, `null` when unknown. A robot neither registered nor reported is a 404."""
    return await _robot(request, params.robot_id)


@routes.route(
    "GET",
    "/api/robots/{robot_id}/telemetry",
    summary="Recent telemetry of one robot",
    roles=ALL_ROLES,
    params=RobotPath,
    query=TelemetryQuery,
    response=TelemetryPage,
    errors=(401, 404, 422),
)
async def robot_telemetry(
    request: web.Request, params: RobotPath, query: TelemetryQuery
) -> TelemetryPage:
    """Newest samples first found, returned oldest first. rd:telemetry holds every robot, so a
    page reads at most `web.scan_max` entries; `before` continues where it stopped."""
    await _robot(request, params.robot_id)
    redis = request.app[REDIS]
    scan_max = request.app[SETTINGS].web.scan_max
    upper = "+"
    exhausted = False
    if query.before is not None:
        try:
            before = StreamId.parse_cursor(query.before)
        except ValueError as exc:
            raise Problem(422, "invalid_field", f"query: before: {exc}", field="before") from None
        upper = before.exclusive
        exhausted = before == ZERO  # nothing is older (and Redis refuses the empty interval)
    found: list[TelemetryEntry] = []
    scanned = 0
    oldest: str | None = None
    while not exhausted and len(found) < query.limit and scanned < scan_max:
        raw = await redis.xrevrange(
            KEYS.telemetry, max=upper, min="-", count=min(1000, scan_max - scanned)
        )
        if not raw:
            exhausted = True
            break
        entries = entries_of(raw)
        scanned += len(entries)
        for sid, rec in decode_entries(entries, TelemetryRecord, KEYS.telemetry):
            if rec.robot == params.robot_id:
                found.append(TelemetryEntry(id=str(sid), sample=rec))
                if len(found) == query.limit:
                    oldest = str(sid)
                    break
        else:
            oldest = entries[-1][0]
            upper = f"({oldest}"
            continue
        break
    found.reverse()
    return TelemetryPage(
        robot=params.robot_id, items=found, before=None if exhausted else oldest, scanned=scanned
    )


def _resolve_args(settings: Any, body: Any) -> dict[str, Any]:
    """The args the gateway gets: named places resolved to coordinates from [floor]."""
    if isinstance(body, GotoCommand):
        a = body.args
        if a.table is not None:
            place = next((t for t in settings.floor.tables if t.name == a.table), None)
            if place is None:
                raise Problem(
                    422,
                    "invalid_field",
                    f"body: no table {a.table!r} in [floor]",
                    field="args.table",
                )
            out: dict[str, Any] = {"x": place.x, "y": place.y, "table": a.table}
            if a.x is not None or a.y is not None:
                raise Problem(
                    422, "invalid_field", "body: give either table or x and y", field="args.x"
                )
            return out
        if a.x is None or a.y is None:
            raise Problem(
                422,
                "invalid_field",
                "body: goto needs x and y, or a table",
                field="args.x" if a.x is None else "args.y",
            )
        return {"x": a.x, "y": a.y}
    if isinstance(body, DockCommand) and body.args.dock is not None:
        dock = next((d for d in settings.floor.docks if d.name == body.args.dock), None)
        if dock is None:
            raise Problem(
                422,
                "invalid_field",
                f"body: no dock {body.args.dock!r} in [floor]",
                field="args.dock",
            )
        return {"dock": dock.name, "x": dock.x, "y": dock.y}
    args = msgspec.to_builtins(body.args)
    return {k: v for k, v in args.items() if v not in ("", None)}


@routes.route(
    "POST",
    "/api/robots/{robot_id}/commands",
    summary="Send a command to a robot",
    roles=WRITERS,
    params=RobotPath,
    body=CommandIn,
    response=CommandAccepted,
    status=202,
    errors=(400, 401, 403, 404, 409, 413, 415, 422),
    headers=("Idempotency-Key",),
    response_headers=("Location",),
)
async def send_command(request: web.Request, params: RobotPath, body: CommandIn) -> Any:
    """Queue a command on rd:commands and answer its id at once (202), with `Location`: the
    command's status resource (`GET` it, with `?wait=` to wait for the outcome).

    The gateway also reports the outcome as a `command.sent`, `command.acked` or
    `command.failed` event whose `data.command` is this id (subscribe to
    /ws/events?type=command.*). An `Idempotency-Key` header makes a retried
    request return the first answer instead of sending the command twice.
    """
    app = request.app
    settings = app[SETTINGS]
    user = request[USER]
    robot = await _robot(request, params.robot_id)
    action = CommandAction(str(body.__struct_config__.tag))
    if robot.kind in set(RobotKind) and action not in ACTIONS_BY_KIND[RobotKind(robot.kind)]:
        raise Problem(
            422, "invalid_field", f"body: a {robot.kind} robot cannot {action}", field="action"
        )
    args = _resolve_args(settings, body)
    redis = app[REDIS]
    idem = idempotency_key(request)
    idem_key = digest = None
    if idem is not None:
        idem_key = KEYS.idem(user.username, idem)
        digest = hashlib.sha256(
            orjson.dumps([params.robot_id, msgspec.to_builtins(body)])
        ).hexdigest()
        stored = await redis.get(idem_key)
        if stored is not None:
            return _repeat(as_str(stored), digest)
        if not await redis.set(
            idem_key, orjson.dumps({"digest": digest}), nx=True, ex=IDEMPOTENCY_TTL_S
        ):
            raise Problem(
                409,
                "conflict",
                "a request with this Idempotency-Key is in progress",
                field="Idempotency-Key",
                extra={"in": "header"},
            )
    now = time.time()
    ttl = body.ttl_s or settings.commands.ttl_s
    rec = CommandRecord(
        id=uuid.uuid4().hex,
        robot=params.robot_id,
        action=str(action),
        ts=now,
        args=args,
        expires=now + ttl,
        source=user.username,
    )
    try:
        sid = await app[STATUS].queue(rec)  # XADD (never MAXLEN) and the command's record
    except BaseException:
        if idem_key is not None:
            await redis.delete(idem_key)
        raise
    out = CommandAccepted(
        command=rec.id,
        stream_id=sid,
        robot=rec.robot,
        action=rec.action,
        args=args,
        expires_at=iso(rec.expires),
    )
    if idem_key is not None:
        await redis.set(
            idem_key,
            orjson.dumps({"digest": digest, "answer": msgspec.to_builtins(out)}),
            ex=IDEMPOTENCY_TTL_S,
        )
    log.info(
        "command_queued", command=rec.id, robot=rec.robot, action=rec.action, user=user.username
    )
    return json_response(out, status=202, headers={"Location": _location(out)})


def _location(out: CommandAccepted) -> str:
    return f"/api/robots/{out.robot}/commands/{out.command}"


def _repeat(stored: str, digest: str) -> web.Response:
    data = orjson.loads(stored)
    if data.get("digest") != digest:
        raise Problem(
            422,
            "invalid_field",
            "Idempotency-Key was used for a different request",
            field="Idempotency-Key",
            extra={"in": "header"},
        )
    if "answer" not in data:
        raise Problem(
            409,
            "conflict",
            "a request with this Idempotency-Key is in progress",
            field="Idempotency-Key",
            extra={"in": "header"},
        )
    answer = msgspec.convert(data["answer"], CommandAccepted)
    return json_response(
        msgspec.structs.replace(answer, duplicate=True),
        status=200,
        headers={"Location": _location(answer)},
    )


@routes.route(
    "GET",
    "/api/robots/{robot_id}/commands",
    summary="A robot's recent commands and what became of them",
    roles=ALL_ROLES,
    params=RobotPath,
    query=CommandsQuery,
    response=CommandPage,
)
async def list_commands(
    request: web.Request, params: RobotPath, query: CommandsQuery
) -> CommandPage:
    """Newest first: those sent through this API and the gateway's own (the dispatcher's),
    each kept `redis.commands_retention_s` after it was queued."""
    await _robot(request, params.robot_id)
    items, total = await request.app[STATUS].page(params.robot_id, query.limit, query.offset)
    return CommandPage(items=items, total=total)


@routes.route(
    "GET",
    "/api/robots/{robot_id}/commands/{command_id}",
    summary="One command and what became of it",
    roles=ALL_ROLES,
    params=CommandPath,
    query=CommandWaitQuery,
    response=CommandOut,
)
async def get_command(
    request: web.Request, params: CommandPath, query: CommandWaitQuery
) -> CommandOut:
    """`status` moves from `queued` to `sent`, then to one outcome: `acked`, `failed` or
    `expired`. With `?wait=S` (at most 30) the answer comes as soon as the command has its
    outcome, or after S seconds with the status it has then: no event feed needed."""
    app = request.app
    return await wait_for_outcome(
        app[STATUS], app[WAITERS], params.robot_id, params.command_id, query.wait
    )
