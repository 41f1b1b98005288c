"""chat: messages per second in one room with 10 members, and whether a message's round
trip grows with the room's history (100, 10,000 and 100,000 messages).

Ten users (one admin, nine staff) join four rooms over /ws/chat: ``kitchen``
for throughput (each member keeps a few of its own messages on the way), and
one room per history size, filled once in the web tier's own entry format
straight into Redis before anyone joins. Latency: a message's post until
every member of its room has it, one message at a time; the members take
turns posting and the three history rooms take turns message by message in
a fresh random order each turn. Every size then sees the same machine at the
same moments, so a shared machine's drift (tens of percent over seconds)
cannot pass for a trend, or hide one; and timing until the last member has
it means the order in which the server happens to write to a room's members
(which differs between rooms) is not what is compared.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from bench import availability, webtier
from bench.harness import Context, Result
from bench.loadgen.chat import ChatMembers
from robodine.redisio.keys import KEYS

NAME = "chat"
MEASURES = "messages/s in one room with 10 members; latency with 100 / 10k / 100k history"
CEILING = ""
GOAL = "latency flat in history size (within 20 %)"

ROOM = "kitchen"
MEMBERS = 10
HISTORY = (100, 10_000, 100_000)
PASSWORD = "member-password-0123"

BOUNDED_BY = """\
The web process's loop: each message is one XADD and ten WebSocket sends. Latency does not
depend on history size: history on join is XREVRANGE COUNT and posting is XADD with an
approximate MAXLEN, so nothing scans the history.
"""


def unavailable() -> str | None:
    return availability.web()


def _history_room(size: int) -> str:
    return f"history-{size}"


def run(ctx: Context) -> Result:
    seconds = ctx.pick(2.0, 10.0)
    samples = ctx.pick(40, 400)  # per history size, interleaved
    _, url = ctx.redis()
    rooms = [ROOM, *(_history_room(size) for size in HISTORY)]
    ports = ctx.config(
        1,
        url,
        {
            "chat": {
                "rate_per_s": 1e6,
                "burst": 1_000_000,
                "maxlen": 2 * max(HISTORY),
                "relay": [],
                "rooms": [{"name": r} for r in rooms],
            },
            # the alarms' managers room must be one of the rooms (the config refuses else)
            "alarms": {"escalate_room": ROOM},
        },
    )
    client = redis.Redis.from_url(url)
    try:
        for size in HISTORY:
            _set_history(client, _history_room(size), size)
        web = ctx.web(ports)
        admin = webtier.login(ports.web)
        members = [(webtier.USER, admin)]
        for i in range(1, MEMBERS):
            name = f"member{i}"
            webtier.request(
                ports.web,
                "POST",
                "/api/users",
                {"username": name, "password": PASSWORD, "role": "staff"},
                token=admin,
            )
            members.append((name, webtier.login(ports.web, name, PASSWORD)))
        room = ChatMembers(ports.web, rooms, members)
        try:
            joined = room.connect()
            with ctx.profiling(web, "chat-web") as profile:
                tp = room.throughput(seconds)
            ctx.log(
                f"{MEMBERS} members: {tp['messages_s']:,.0f} messages/s posted, "
                f"{tp['deliveries_s']:,.0f} deliveries/s"
            )
            history_rooms = [_history_room(size) for size in HISTORY]
            room.latency(ctx.pick(10, 40), history_rooms)  # warm-up: first-use costs, discarded
            by_room = room.latency(samples, history_rooms)
        finally:
            room.close()
    finally:
        client.close()
    latency: dict[str, Any] = {str(size): by_room[_history_room(size)] for size in HISTORY}
    for history, lat in latency.items():
        ctx.log(
            f"history {int(history):,}: post -> all members p50 {lat['p50']} ms, "
            f"p99 {lat['p99']} ms"
        )
    p50s = [v["p50"] for v in latency.values()]
    spread = max(p50s) / min(p50s) if min(p50s) > 0 else None
    return Result(
        NAME,
        "ok",
        MEASURES,
        GOAL,
        project=tp["messages_s"],
        unit="msg/s",
        met=spread is not None and spread <= 1.2,
        figures={
            "throughput": tp,
            "latency_ms_by_history": latency,
            "history_on_join": joined["history_on_join"],
            "p50_spread": round(spread, 3) if spread else None,
            "samples_per_size": samples,
        },
        bound=(
            f"round-trip p50 {min(p50s)}-{max(p50s)} ms across history sizes (spread "
            f"{spread:.2f}x); throughput is one web process posting (XADD) and fanning "
            "out each message to 10 sockets"
        )
        if spread
        else "",
        profile=profile or None,
    )


def _set_history(client: redis.Redis, room: str, size: int) -> None:
    """Fill the room's stream with ``size`` entries (web tier's field format)."""
    stream = KEYS.chat(room)
    pipe = client.pipeline(transaction=False)
    now = time.time()
    for i in range(size):
        pipe.xadd(
            stream,
            {
                "username": "seed",
                "content": f"history message number {i}",
                "ts": now,
                "role": "staff",
            },
        )
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
