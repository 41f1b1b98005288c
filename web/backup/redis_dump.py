"""The rd:* keys of Redis as JSON lines, and back: streams with their entry ids, last id
and consumer groups, hashes, sets, sorted sets, lists and strings, with their TTLs.

A logical dump rather than DUMP/RESTORE payloads: those only load into the same or a
newer Redis, and nobody can read them. One line per key (``k``: key, ``t``: type,
``ttl``: ms or -1), except a stream, whose entries follow in lines of up to
``PAGE`` (``k``, ``e``). Values that are not UTF-8 are ``{"b64": ...}``.

Keys are restored under this box's namespace (``redis.key_prefix``): the archive's
prefix, whatever it was, is replaced, so an archive of an ``rd`` box restores into a
``{rd}`` one (a Redis Cluster endpoint; docs/scaling.md, Redis Cluster).

A consumer group's position is where it had read to, except that entries it had
read but not acknowledged (its pending list, which cannot be recreated) are read
again after a restore: its position is put just before the oldest of them.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from redis.asyncio import Redis

from robodine.redisio.keys import KEYS
from robodine.redisio.streamid import StreamId

PAGE = 1000


def _enc(v: Any) -> str | dict[str, str]:
    try:
        return str(v.decode())
    except UnicodeDecodeError:
        return {"b64": base64.b64encode(v).decode()}


def _dec(v: str | dict[str, str]) -> bytes:
    return base64.b64decode(v["b64"]) if isinstance(v, dict) else v.encode()


def _s(v: Any) -> str:
    return v.decode() if isinstance(v, bytes) else str(v)


@dataclass
class DumpStats:
    keys: int = 0
    entries: dict[str, int] = field(default_factory=dict)  # stream -> entries written
    members: dict[str, int] = field(default_factory=dict)  # set -> members (rd:robots)


def ours(key: bytes) -> bytes:
    """An archived key under this box's namespace: ``rd:events`` -> ``{rd}:events``."""
    _, sep, rest = key.partition(b":")
    return KEYS.prefix.encode() + sep + rest if sep else key


async def rd_keys(redis: Redis) -> list[bytes]:
    return sorted({k async for k in redis.scan_iter(match=KEYS.pattern, count=1000)})


async def dump(redis: Redis, stats: DumpStats) -> AsyncIterator[bytes]:
    """Every rd:* key, line by line (``redis``: raw replies, not decoded)."""
    for key in await rd_keys(redis):
        kind = _s(await redis.type(key))
        ttl = int(await redis.pttl(key))
        head: dict[str, Any] = {"k": _enc(key), "t": kind, "ttl": ttl if ttl > 0 else -1}
        name = _s(key)
        if kind == "string":
            value = await redis.get(key)
            if value is None:
                continue
            head["v"] = _enc(value)
        elif kind == "hash":
            fields: dict[Any, Any] = await redis.hgetall(key)
            head["v"] = {_s(f): _enc(v) for f, v in fields.items()}
        elif kind == "set":
            members: list[Any] = sorted(await redis.smembers(key))
            head["v"] = [_enc(m) for m in members]
            stats.members[name] = len(members)
        elif kind == "zset":
            scored: Any = await redis.zrange(key, 0, -1, withscores=True)
            head["v"] = [[_enc(m), score] for m, score in scored]
        elif kind == "list":
            head["v"] = [_enc(v) for v in await redis.lrange(key, 0, -1)]
        elif kind == "stream":
            async for line in _dump_stream(redis, key, head, stats):
                yield line
            stats.keys += 1
            continue
        else:
            continue  # none (gone since SCAN), or a type we do not write
        stats.keys += 1
        yield orjson.dumps(head) + b"\n"


async def _dump_stream(
    redis: Redis, key: bytes, head: dict[str, Any], stats: DumpStats
) -> AsyncIterator[bytes]:
    info = await redis.xinfo_stream(key)
    last = _s(info["last-generated-id"])
    head["last"] = last
    head["added"] = int(info.get("entries-added", 0))
    head["max_deleted"] = _s(info.get("max-deleted-entry-id", "0-0"))
    groups = []
    for g in await redis.xinfo_groups(key):
        position = StreamId.parse(_s(g["last-delivered-id"]))
        read = g.get("entries-read")
        pending = await redis.xpending(key, g["name"])
        if pending and pending.get("pending") and pending.get("min"):
            oldest = StreamId.parse(_s(pending["min"]))
            if oldest <= position:  # read again what was not acknowledged
                position = _before(oldest)
                read = None
        groups.append({"name": _s(g["name"]), "id": str(position), "read": read})
    head["groups"] = groups
    yield orjson.dumps(head) + b"\n"
    name, after, written = _s(key), "-", 0
    while True:
        page: Any = await redis.xrange(key, min=after, max=last, count=PAGE)
        if not page:
            break
        entries = [[_s(i), {_s(f): _enc(v) for f, v in fields.items()}] for i, fields in page]
        written += len(entries)
        yield orjson.dumps({"k": name, "e": entries}) + b"\n"
        after = "(" + _s(page[-1][0])
        if len(page) < PAGE:
            break
    stats.entries[name] = written


def _before(sid: StreamId) -> StreamId:
    if sid.seq:
        return StreamId(sid.ms, sid.seq - 1)
    return StreamId(sid.ms - 1, 2**64 - 1) if sid.ms else StreamId(0, 0)


async def occupied(redis: Redis) -> int:
    """How many rd:* keys the target Redis already holds (0: empty for us)."""
    return len(await rd_keys(redis))


async def clear(redis: Redis) -> int:
    keys = await rd_keys(redis)
    for i in range(0, len(keys), 500):
        await redis.unlink(*keys[i : i + 500])
    return len(keys)


async def load(redis: Redis, lines: Iterable[bytes]) -> int:
    """Write the dump's keys (into a Redis with none of them); returns how many."""
    keys = 0
    stream: tuple[bytes, dict[str, Any]] | None = None  # its entries are being written
    for raw in lines:
        rec = orjson.loads(raw)
        key = ours(_dec(rec["k"]))
        if "e" in rec:
            pipe = redis.pipeline(transaction=False)
            for sid, fields in rec["e"]:
                pipe.xadd(key, {f: _dec(v) for f, v in fields.items()}, id=sid)
            await pipe.execute()
            continue
        if stream is not None:
            await _finish_stream(redis, *stream)
            stream = None
        keys += 1
        kind, value = rec["t"], rec.get("v")
        if kind == "stream":
            stream = (key, rec)  # entries follow; its last id and groups once they are in
            continue
        if kind == "string":
            await redis.set(key, _dec(value))
        elif kind == "hash" and value:
            await redis.hset(key, mapping={f: _dec(v) for f, v in value.items()})
        elif kind == "set" and value:
            await redis.sadd(key, *[_dec(m) for m in value])
        elif kind == "zset" and value:
            await redis.zadd(key, {_dec(m): score for m, score in value})
        elif kind == "list" and value:
            await redis.rpush(key, *[_dec(v) for v in value])
        if rec["ttl"] > 0:
            await redis.pexpire(key, rec["ttl"])
    if stream is not None:
        await _finish_stream(redis, *stream)
    return keys


async def _finish_stream(redis: Redis, key: bytes, rec: dict[str, Any]) -> None:
    """An empty stream is made by its first group (MKSTREAM) or here; then the last id,
    the count of entries ever added and the groups' positions, as they were."""
    if not await redis.exists(key):
        await redis.xgroup_create(key, "rd:restore", "$", mkstream=True)
        await redis.xgroup_destroy(key, "rd:restore")
    await redis.execute_command(  # type: ignore[no-untyped-call]  # no XSETID in redis-py
        "XSETID",
        key,
        rec["last"],
        "ENTRIESADDED",
        rec["added"],
        "MAXDELETEDID",
        rec["max_deleted"],
    )
    for g in rec["groups"]:
        await redis.xgroup_create(key, g["name"], g["id"], entries_read=g["read"])
    if rec["ttl"] > 0:
        await redis.pexpire(key, rec["ttl"])
