"""The sections every status document has, in the order shown (web/status/document.py).

Each reads what the running system already exposes: Redis (INFO, the rd:* keys), the
gateway's and web tier's own HTTP listeners, the broker, the database. Nothing here
writes. Thresholds are constants: a group this far behind, an outbox row this old.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import ssl
from collections import Counter
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import aiomqtt
import msgspec
from prometheus_client.parser import text_string_to_metric_families
from redis.exceptions import RedisError, ResponseError
from sqlalchemy import func, select, text

from protocol.streams import Level
from robodine.redisio.client import redacted_url
from robodine.redisio.keys import KEYS
from robodine.redisio.replies import as_str
from robodine.redisio.streamid import StreamId
from web.status.document import Section, judged, off, ok, section
from web.status.probe import Probe

LAG_LIMIT = 1000  # entries a consumer group may be behind before it is a problem
OUTBOX_AGE_LIMIT_S = 30.0  # an order command not on rd:commands after this is a problem
ALARM_WINDOW_S = 600.0  # alarms this recent make the document degraded
LAST_ERRORS = 10
ERROR_SCAN = 5000  # newest rd:events entries searched for them
PROJECTOR_GROUP = "projector"  # web/orders/projector.py
OUTAGE = (RedisError, OSError)


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


# ---- Redis ---------------------------------------------------------------------------


async def _info(p: Probe) -> dict[str, Any]:
    info: dict[str, Any] = await p.redis.info()
    return info


@section("redis")
async def redis_section(p: Probe) -> Section:
    url = redacted_url(p.settings.redis.url)
    try:
        info = await p.once("info", lambda: _info(p))
    except OUTAGE as exc:
        return Section(
            state="down",
            summary=f"not reachable at {url}",
            problems=[
                f"Redis does not answer ({exc}): the gateway spools events, the web tier "
                "answers 503. Start it: systemctl start redis-server"
            ],
            details={"url": url},
        )
    fsync = None
    with contextlib.suppress(*OUTAGE):  # CONFIG may be refused to an ACL user
        fsync = (await p.redis.config_get("appendfsync")).get("appendfsync")
    aof = bool(info.get("aof_enabled"))
    policy = info.get("maxmemory_policy", "")
    used, limit = int(info.get("used_memory", 0)), int(info.get("maxmemory", 0))
    problems = []
    if not aof:
        problems.append(
            "AOF is off: a crash loses every acknowledged event since the last snapshot; "
            "include config/redis-robodine.conf (docs/operations.md, Redis)"
        )
    if info.get("aof_last_write_status", "ok") != "ok":
        problems.append("Redis cannot write its AOF (aof_last_write_status err): check the disk")
    if policy != "noeviction":
        problems.append(
            f"maxmemory-policy is {policy}: eviction can delete rd:commands; set noeviction"
        )
    if limit and used > 0.9 * limit:
        problems.append(f"Redis uses {used * 100 // limit}% of maxmemory: raise it or trim")
    persistence = f"AOF ({fsync})" if aof and fsync else "AOF" if aof else "no AOF"
    return judged(
        f"Redis {info.get('redis_version')}, {persistence}, {policy}, {used / 2**20:.1f} MiB",
        problems,
        url=url,
        version=info.get("redis_version"),
        aof=aof,
        appendfsync=fsync,
        maxmemory_policy=policy,
        used_memory=used,
        maxmemory=limit,
        uptime_s=info.get("uptime_in_seconds"),
        clients=info.get("connected_clients"),
    )


# ---- the broker ------------------------------------------------------------------------


@section("broker")
async def broker_section(p: Probe) -> Section:
    m = p.settings.mqtt
    if not m.enabled:
        return off("MQTT is off (mqtt.enabled = false)")
    u = urlsplit(m.url)
    tls = u.scheme == "mqtts"
    host, port = u.hostname or "127.0.0.1", u.port or (8883 if tls else 1883)
    version = None
    try:
        async with aiomqtt.Client(
            host,
            port,
            username=m.username,
            password=m.password.get_secret_value() if m.password else None,
            identifier=f"robodine-status-{p.now:.0f}",
            timeout=3.0,
            tls_context=ssl.create_default_context() if tls else None,
        ) as client:
            await client.subscribe("$SYS/broker/version")
            with contextlib.suppress(TimeoutError):  # the ACL may hide $SYS: reachable anyway
                async with asyncio.timeout(1.5):
                    async for msg in client.messages:
                        version = bytes(msg.payload).decode(errors="replace")
                        break
    except (aiomqtt.MqttError, OSError) as exc:
        return Section(
            state="degraded",
            summary=f"not reachable at {host}:{port}",
            problems=[
                f"the MQTT broker refuses or does not answer ({exc}): MQTT and VDA 5050 robots "
                "are cut off. systemctl status mosquitto"
            ],
            details={"host": host, "port": port},
        )
    return ok(f"{version or 'broker'} at {host}:{port}", host=host, port=port, version=version)


# ---- the gateway and the web tier ---------------------------------------------------------


async def _gateway_metrics(p: Probe) -> dict[str, dict[str, float]] | None:
    """The gateway's /metrics as {name: {label value: value}}; None: nothing answers."""
    g = p.settings.gateway
    url = f"http://{_loopback(g.metrics_host)}:{g.metrics_port}/metrics"
    try:
        async with p.http.get(url) as r:
            body = await r.text()
    except (aiohttp.ClientError, OSError, TimeoutError):
        return None
    out: dict[str, dict[str, float]] = {}
    for family in text_string_to_metric_families(body):
        for s in family.samples:
            label = next(iter(s.labels.values()), "")
            out.setdefault(s.name, {})[label] = s.value
    return out


async def _last_gateway_event(p: Probe) -> tuple[str, str] | None:
    """The newest gateway.started / gateway.stopped of this gateway: (type, stream id)."""
    name = p.settings.gateway.name
    entries: Any = await p.redis.xrevrange(KEYS.events, count=ERROR_SCAN)
    for sid, fields in entries:
        if fields.get("type") in ("gateway.started", "gateway.stopped") and fields.get("src") in (
            name,
            "",
        ):
            return fields["type"], sid
    return None


@section("gateway")
async def gateway_section(p: Probe) -> Section:
    g = p.settings.gateway
    if not g.metrics_port:  # no listener to ask: what it last wrote to rd:events
        try:
            last = await _last_gateway_event(p)
        except OUTAGE:
            last = None
        if last is None or last[0] == "gateway.stopped":
            return Section(
                state="down" if last else "degraded",
                summary=f"{g.name}: {'stopped' if last else 'unknown'} (metrics off)",
                problems=[
                    f"{g.name} wrote gateway.stopped last"
                    if last
                    else "gateway.metrics_port = 0 and no gateway.started in rd:events"
                ],
            )
        return ok(f"{g.name}: started (rd:events {last[1]}; metrics off)", name=g.name)
    metrics = await p.once("gateway_metrics", lambda: _gateway_metrics(p))
    where = f"{_loopback(g.metrics_host)}:{g.metrics_port}"
    if metrics is None or not any(n.startswith("robodine_gateway_") for n in metrics):
        return Section(
            state="down",
            summary=f"{g.name}: not running (nothing answers at {where})",
            problems=[
                f"the gateway does not answer at {where}: no robot is served or recorded. "
                "systemctl status robodine-gateway (or journalctl -u robodine-gateway)"
            ],
            details={"name": g.name, "metrics": where},
        )
    robots = metrics.get("robodine_gateway_robots", {})
    problems = []
    if metrics.get("robodine_gateway_redis_up", {}).get("", 1) == 0:
        problems.append("the gateway does not reach Redis: events go to its spool")
    if metrics.get("robodine_gateway_spool_degraded", {}).get("", 0) == 1:
        problems.append("the gateway's spool refuses writes (disk full or read-only)")
    if p.settings.mqtt.enabled and metrics.get("robodine_gateway_mqtt_up", {}).get("", 1) == 0:
        problems.append("the gateway is not connected to the MQTT broker")
    online = int(robots.get("online", 0))
    return judged(
        f"{g.name}: serving, {online} robots online",
        problems,
        name=g.name,
        metrics=where,
        robots={k: int(v) for k, v in robots.items()},
    )


@section("cluster")
async def cluster_section(p: Probe) -> Section:
    from web.status.cluster import read_cluster

    c = await read_cluster(p.redis, p.settings)
    if not c.enabled:
        if p.settings.cluster.enabled:
            return Section(
                state="down",
                summary="no gateway of the cluster in Redis",
                problems=[
                    "cluster.enabled is set and no gateway has registered in Redis: is any "
                    "gateway running? systemctl status robodine-gateway"
                ],
            )
        return off("one gateway per Redis (cluster.enabled = false)")
    alive = [g for g in c.gateways if g.alive]
    problems = [
        f"gateway {g.name} is not alive: the leader moves its {g.inbox_length} inbox "
        "entries to the robots' new holders"
        for g in c.gateways
        if not g.alive
    ]
    if alive and c.leader is None:
        problems.append(
            "no leader: commands are not routed and orders not dispatched until a gateway "
            f"takes rd:leader (within cluster.lease_ttl_s, {p.settings.cluster.lease_ttl_s:g} s)"
        )
    if not alive:
        problems.append("no gateway of the cluster is alive: no robot is served")
    held = ", ".join(f"{g.name} {len(g.robots)}" for g in alive)
    leader = f"leader {c.leader.gateway} (epoch {c.leader.epoch})" if c.leader else "no leader"
    return judged(
        f"{len(alive)} gateways alive, {leader}, {c.leases.held} robots held ({held or 'none'})",
        problems,
        down=not alive,
        **msgspec.to_builtins(c),
    )


@section("web")
async def web_section(p: Probe) -> Section:
    w = p.settings.web
    if p.web_here is not None:
        return ok(f"{p.web_here}: answering", name=p.web_here)
    scheme = "https" if w.tls_cert else "http"
    url = f"{scheme}://{_loopback(w.host)}:{w.port}/ready"
    try:
        # this box's own listener: its certificate may be the installer's self-signed one
        async with p.http.get(url, ssl=False) as r:
            body = await r.json(content_type=None)
            status = r.status
    except (aiohttp.ClientError, OSError, TimeoutError, ValueError) as exc:
        return Section(
            state="degraded",
            summary=f"not answering at {url}",
            problems=[
                f"the web tier does not answer ({type(exc).__name__}): dashboards and the API "
                "are down. systemctl status robodine-web"
            ],
            details={"url": url},
        )
    if status != 200:
        failing = {k: v for k, v in body.items() if k != "status" and v != "ok"}
        return Section(
            state="degraded",
            summary=f"{url}: not ready",
            problems=[f"web tier not ready: {failing}"],
            details={"url": url, **body},
        )
    return ok(f"ready at {url.removesuffix('/ready')}", url=url)


# ---- robots and the spool ----------------------------------------------------------


@section("robots")
async def robots_section(p: Probe) -> Section:
    ids = sorted(as_str(i) for i in await p.redis.smembers(KEYS.robots))
    pipe = p.redis.pipeline(transaction=False)
    for rid in ids:
        pipe.hmget(KEYS.robot(rid), ["kind", "connection", "seen"])
    snaps = await pipe.execute()
    known = {r.id: str(r.kind) for r in p.settings.robots}
    known.update(dict.fromkeys((as_str(k) for k in await p.redis.hkeys(KEYS.registry)), ""))
    offline_after = p.settings.gateway.offline_after_s
    by_kind: dict[str, Counter[str]] = {}
    stale = []
    for rid, (kind, connection, seen) in zip(ids, snaps, strict=True):
        state = connection or "offline"
        if state != "offline" and (seen is None or p.now - float(seen) > offline_after):
            state = "offline"  # the snapshot outlived the gateway that wrote it
        by_kind.setdefault(kind or known.get(rid) or "unknown", Counter())[state] += 1
        if state == "stale":
            stale.append(rid)
    never = sorted(set(known) - set(ids))
    for rid in never:
        by_kind.setdefault(known[rid] or "unknown", Counter())["never_seen"] += 1
    totals: Counter[str] = sum(by_kind.values(), Counter())
    problems = (
        [f"robots not heard from for {p.settings.gateway.stale_after_s:g} s: " + ", ".join(stale)]
        if stale
        else []
    )
    summary = (
        ", ".join(
            f"{totals[s]} {s.replace('_', ' ')}"
            for s in ("online", "stale", "offline", "never_seen")
            if totals[s]
        )
        or "none"
    )
    return judged(
        summary,
        problems,
        by_kind={k: dict(v) for k, v in sorted(by_kind.items())},
        stale=stale,
        never_seen=never,
    )


def _spool_file_depth(path: Path) -> int:
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)) as db:
        try:
            return int(db.execute("SELECT count(*) FROM spool").fetchone()[0])
        except sqlite3.OperationalError:  # no table yet
            return 0


@section("spool")
async def spool_section(p: Probe) -> Section:
    metrics = (
        await p.once("gateway_metrics", lambda: _gateway_metrics(p))
        if p.settings.gateway.metrics_port
        else None
    )
    live = (metrics or {}).get("robodine_gateway_spool_depth", {}).get("")
    path = p.settings.spool.path
    if live is not None:
        depth, source = int(live), "gateway"
    else:  # the gateway is not running: what it will replay at its next start
        depth, source = await asyncio.to_thread(_spool_file_depth, path), str(path)
    problems = (
        [
            f"{depth} events wait in the spool for Redis; the gateway replays them once Redis "
            "takes writes again"
        ]
        if depth
        else []
    )
    return judged(f"{depth} events waiting", problems, depth=depth, source=source)


# ---- streams, consumer groups, projector, outbox -------------------------------------


async def _streams(p: Probe) -> dict[str, dict[str, Any]]:
    names = sorted(
        [k async for k in p.redis.scan_iter(match=KEYS.pattern, _type="stream", count=500)]
    )
    pipe = p.redis.pipeline(transaction=False)
    for name in names:
        pipe.xinfo_stream(name)
        pipe.xinfo_groups(name)
    replies = await pipe.execute(raise_on_error=False)
    out: dict[str, dict[str, Any]] = {}
    for i, name in enumerate(names):
        info, groups = replies[2 * i], replies[2 * i + 1]
        if isinstance(info, ResponseError):  # deleted between SCAN and XINFO
            continue
        out[name] = {
            "length": int(info["length"]),
            "last_id": info["last-generated-id"],
            "groups": {
                g["name"]: {
                    "consumers": int(g["consumers"]),
                    "pending": int(g["pending"]),
                    "last_delivered_id": g["last-delivered-id"],
                    "lag": None if g.get("lag") is None else int(g["lag"]),
                }
                for g in (groups if isinstance(groups, list) else [])
            },
        }
    return out


@section("streams")
async def streams_section(p: Probe) -> Section:
    streams = await p.once("streams", lambda: _streams(p))
    problems = [
        f"group {group} of {name} is {g['lag']} entries behind"
        for name, s in streams.items()
        for group, g in s["groups"].items()
        if g["lag"] is not None and g["lag"] > LAG_LIMIT
    ]
    total = sum(s["length"] for s in streams.values())
    return judged(f"{len(streams)} streams, {total} entries", problems, streams=streams)


@section("projector")
async def projector_section(p: Probe) -> Section:
    streams = await p.once("streams", lambda: _streams(p))
    group = streams.get(KEYS.events, {}).get("groups", {}).get(PROJECTOR_GROUP)
    if group is None:
        return Section(
            state="degraded",
            summary="no projector group on rd:events",
            problems=["the web tier has not created its projector group: is it running?"],
        )
    lag, pending = group["lag"], group["pending"]
    problems = []
    if lag is not None and lag > LAG_LIMIT:
        problems.append(f"the projector is {lag} events behind: order statuses lag in SQL")
    return judged(
        f"{lag if lag is not None else '?'} events behind, {pending} pending",
        problems,
        lag=lag,
        pending=pending,
        consumers=group["consumers"],
    )


@section("database")
async def database_section(p: Probe) -> Section:
    from web.db.migrate import head_revision

    dialect = p.engine.dialect.name
    try:
        async with p.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
            try:  # alembic's own table; read plainly (its MigrationContext logs at INFO)
                revision = await conn.scalar(text("SELECT version_num FROM alembic_version"))
            except Exception:  # no table: never migrated
                revision = None
    except Exception as exc:  # the driver's own error classes differ per database
        return Section(
            state="degraded",
            summary=f"{dialect}: not reachable",
            problems=[f"the database does not answer ({type(exc).__name__}: {exc})"[:300]],
        )
    head = head_revision()
    problems = []
    if revision != head:
        problems.append(
            f"the schema is at {revision}, the code's at {head}: run robodine db upgrade"
        )
    return judged(
        f"{dialect}, schema {revision}", problems, dialect=dialect, revision=revision, head=head
    )


@section("outbox")
async def outbox_section(p: Probe) -> Section:
    from web.db.orders import OutboxRow

    async with p.engine.connect() as conn:
        row = (
            await conn.execute(
                select(func.count(), func.min(OutboxRow.created_at)).where(
                    OutboxRow.sent_at.is_(None)
                )
            )
        ).one()
    waiting, oldest = int(row[0]), row[1]
    age = 0.0
    if oldest is not None:
        when = oldest if oldest.tzinfo else oldest.replace(tzinfo=UTC)  # stored as UTC
        age = max(0.0, p.now - when.timestamp())
    problems = (
        [
            f"{waiting} order commands are not on {KEYS.commands} yet, the oldest for {age:.0f} s: "
            "the web tier's outbox relay cannot reach Redis?"
        ]
        if waiting and age > OUTBOX_AGE_LIMIT_S
        else []
    )
    return judged(
        f"{waiting} commands waiting", problems, waiting=waiting, oldest_age_s=round(age, 1)
    )


# ---- last errors ------------------------------------------------------------------------


@section("errors")
async def errors_section(p: Probe) -> Section:
    entries: Any = await p.redis.xrevrange(KEYS.events, count=ERROR_SCAN)
    alarms = []
    for sid, fields in entries:
        if fields.get("level") == Level.ALARM:
            alarms.append(
                {
                    "id": sid,
                    "ts": StreamId.parse(sid).ms / 1000,
                    "type": fields.get("type"),
                    "robot": fields.get("robot", ""),
                    "src": fields.get("src", ""),
                    "data": fields.get("data", ""),
                }
            )
            if len(alarms) == LAST_ERRORS:
                break
    recent = [a for a in alarms if p.now - a["ts"] < ALARM_WINDOW_S]
    problems = (
        [
            f"{len(recent)} alarms in the last {ALARM_WINDOW_S / 60:g} min, the latest "
            f"{recent[0]['type']}" + (f" ({recent[0]['robot']})" if recent[0]["robot"] else "")
        ]
        if recent
        else []
    )
    summary = f"{len(alarms)} recent alarms" if alarms else "no alarms"
    return judged(summary, problems, alarms=alarms)
