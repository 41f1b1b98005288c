"""The hub and subscriptions against a real Redis, without HTTP: lag, catch-up, coalescing."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
from hypothesis import given
from hypothesis import strategies as st

from protocol.streams import EVENTS, TELEMETRY, EventRecord, TelemetryRecord, to_fields
from robodine.redisio.client import connect
from robodine.redisio.replies import field_map
from robodine.redisio.streamid import ZERO, StreamId
from tests.servers import RedisServer
from tests.support.replies import as_fields
from tests.support.web import web_settings
from web.events.topic import EventsTopic
from web.feeds.frames import Frame, FrameBatch, batch_message, ws_text
from web.feeds.hub import CLOSE_STREAM_RESET, CLOSE_TOO_SLOW, FeedEnded, Hub
from web.feeds.subscription import Filter, Subscription
from web.feeds.topic import Topic, TopicContext
from web.resources import hub_connection
from web.robots.telemetry_topic import TelemetryTopic

# ---- pure parts -----------------------------------------------------------------

ids = st.tuples(st.integers(0, 2**64 - 1), st.integers(0, 2**64 - 1)).map(lambda t: StreamId(*t))


@given(ids)
def test_stream_id_round_trips(sid: StreamId) -> None:
    assert StreamId.parse(str(sid)) == sid
    assert StreamId.parse_cursor(str(sid)) == sid


def _check_parse(text: str) -> None:
    ms, dash, seq = text.partition("-")
    valid = (
        bool(dash)
        and all(0 < len(p) <= 20 and p.isascii() and p.isdigit() for p in (ms, seq))
        and int(ms) < 2**64
        and int(seq) < 2**64
    )
    try:
        sid = StreamId.parse(text)
    except ValueError:
        assert not valid, text
    else:
        assert valid and sid == (int(ms), int(seq)), text


@given(st.text(alphabet="0123456789-\n \u0661x", max_size=45))
def test_stream_id_parse_takes_ascii_ms_seq_and_nothing_else(text: str) -> None:
    _check_parse(text)


_parts = st.one_of(
    st.text(alphabet="0123456789\u0661", min_size=1, max_size=22),
    st.integers(2**64 - 2, 2**64 + 1).map(str),  # the range's edge
    st.tuples(st.integers(19, 21), st.integers(0, 9)).map(lambda t: f"{t[1]:0{t[0]}d}"),  # length
)


@given(st.lists(_parts, min_size=1, max_size=3), st.lists(st.tuples(st.integers(0, 2), _parts)))
def test_stream_id_parse_of_ids_sharing_their_ms_part(
    ms: list[str], ids: list[tuple[int, str]]
) -> None:
    """The ms parts a parse has seen are remembered: a known one must not let a bad seq by."""
    for i, seq in ids:
        _check_parse(f"{ms[i % len(ms)]}-{seq}")


@given(ids, ids)
def test_stream_id_order_is_redis_order(a: StreamId, b: StreamId) -> None:
    assert (a < b) == ((a.ms, a.seq) < (b.ms, b.seq))


@given(st.text(max_size=30))
def test_stream_id_parse_rejects_or_returns_an_id(text: str) -> None:
    try:
        sid = StreamId.parse_cursor(text)
    except ValueError:
        return
    assert isinstance(sid, StreamId)


def test_bare_milliseconds_mean_from_that_millisecond_on() -> None:
    assert StreamId.parse_cursor("1700000000000") == StreamId(1699999999999, 2**64 - 1)
    assert StreamId.parse_cursor("0") == ZERO
    for bad in ("", "-1", "1-", "1-2-3", "x", str(2**64), f"1-{2**64}"):
        with pytest.raises(ValueError, match=r"stream id|out of range"):
            StreamId.parse_cursor(bad)


def _f(robot: str = "", type_: str = "", level: str = "") -> Frame:
    return Frame(StreamId(1, 0), "event", b"{}", robot=robot, type=type_, level=level)


@given(
    st.sampled_from(["robot.state", "robot.connection", "command.acked", "x"]),
    st.sampled_from(["r1", "r2", ""]),
    st.sampled_from(["info", "alarm"]),
)
def test_filter_semantics(type_: str, robot: str, level: str) -> None:
    f = _f(robot, type_, level)
    assert Filter.make().accepts(f)
    assert Filter.make(types=["robot.*"]).accepts(f) == type_.startswith("robot.")
    assert Filter.make(types=[type_]).accepts(f)
    assert Filter.make(robots=["r1"]).accepts(f) == (robot == "r1")
    assert Filter.make(levels=["alarm"], robots=["r2"]).accepts(f) == (
        level == "alarm" and robot == "r2"
    )


# ---- a hub on a real Redis ----------------------------------------------------------


@contextlib.asynccontextmanager
async def running_hub(
    url: str, *, ready: bool = True, **web: Any
) -> AsyncIterator[tuple[Hub, aioredis.Redis]]:
    settings = web_settings(url, "sqlite+aiosqlite://", web={"hub_block_ms": 100, **web})
    redis = connect(settings.redis, name="test", decode=True)
    no_db: Any = None  # these topics never open a database session
    hub = Hub(
        redis,
        settings.web,
        TopicContext(redis, settings, no_db),
        connect=lambda n: hub_connection(settings, n),
    )
    hub.add_reader("events", [EVENTS])
    hub.add_reader("telemetry", [TELEMETRY])
    task = asyncio.create_task(hub.run())
    try:
        assert await hub.wait_ready(3 if ready else 0.2) or not ready
        yield hub, redis
    finally:
        hub.stop()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await redis.aclose()


@contextlib.asynccontextmanager
async def live_events(hub: Hub, queue_max: int = 10) -> AsyncIterator[Subscription]:
    """An events subscription from the stream's end, already live."""
    async with live_subscription(hub, EventsTopic(), queue_max) as sub:
        yield sub


@contextlib.asynccontextmanager
async def live_subscription(
    hub: Hub, topic: Topic, queue_max: int = 10
) -> AsyncIterator[Subscription]:
    """A subscription to ``topic`` from its stream's end, already live."""
    start = await topic.start(hub.ctx, Filter(), None)
    sub = Subscription(topic, Filter(), cursor=start.cursor, queue_max=queue_max)
    async with hub.subscribe(sub):
        await hub.next_frames(sub, idle=0.05)  # goes live
        yield sub


async def add_events(redis: aioredis.Redis, n: int, start: int = 0) -> list[str]:
    pipe = redis.pipeline(transaction=False)
    for i in range(start, start + n):
        pipe.xadd(
            EVENTS,
            as_fields(
                to_fields(
                    EventRecord(eid=f"e{i}", type="robot.event", ts=1.0, robot="r1", data={"i": i})
                )
            ),
        )
    return [str(x) for x in await pipe.execute()]


async def read_up_to(hub: Hub, sid: str, stream: str = EVENTS) -> None:
    """Until the hub's reader has read ``sid`` (its position is polled: it has no event)."""
    async with asyncio.timeout(3):
        while hub.position(stream) != StreamId.parse(sid):  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def drain(
    hub: Hub, sub: Subscription, want: int, timeout: float = 5
) -> tuple[list[str], list[str]]:
    """(event ids, other frame names) until ``want`` events arrived."""
    got: list[str] = []
    other: list[str] = []
    async with asyncio.timeout(timeout):
        while len(got) < want:
            for f in await hub.next_frames(sub):
                if f.name == "event":
                    got.append(str(f.id))
                else:
                    other.append(f.name)
    return got, other


async def test_a_client_that_falls_behind_catches_up_from_the_stream(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
) -> None:
    async with running_hub(redis_server.url, hub_batch=10) as (hub, redis), live_events(hub) as sub:
        assert not sub.behind
        ids = await add_events(redis, 200)  # arrives while nobody reads: the queue overflows
        await read_up_to(hub, ids[-1])
        assert (sub.behind, sub.queued) == (True, 10)  # (a tuple: behind is narrowed above)
        more = await add_events(redis, 5, 200)  # while behind: read from Redis, not queued
        got, other = await drain(hub, sub, 205)
        assert got == ids + more
        assert other == ["lagging", "lagging"]  # behind, then caught up
        assert not sub.behind
        live = await add_events(redis, 3, 205)
        got, _ = await drain(hub, sub, 3)
        assert got == live
    assert hub.stats["fell_behind"] == 1


async def test_behind_for_too_long_ends_the_feed(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    async with (
        running_hub(redis_server.url, hub_batch=10, lag_timeout_s=0.2) as (hub, redis),
        live_events(hub) as sub,
    ):
        await add_events(redis, 50)
        await asyncio.sleep(0.4)
        with pytest.raises(FeedEnded) as exc:
            await drain(hub, sub, 50)
        assert exc.value.code == CLOSE_TOO_SLOW


async def test_trimmed_while_behind_ends_the_feed(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    async with running_hub(redis_server.url, hub_batch=10) as (hub, redis), live_events(hub) as sub:
        ids = await add_events(redis, 100)
        await read_up_to(hub, ids[-1])
        await redis.xtrim(EVENTS, maxlen=5, approximate=False)  # the missed part is gone
        with pytest.raises(FeedEnded) as exc:
            await drain(hub, sub, 100)
        assert exc.value.code == CLOSE_TOO_SLOW


async def test_latest_wins_keeps_one_frame_per_robot(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    async with running_hub(redis_server.url) as (hub, redis):
        topic = TelemetryTopic()
        start = await topic.start(hub.ctx, Filter(), None)
        sub = Subscription(topic, Filter(), cursor=start.cursor, queue_max=10)
        async with hub.subscribe(sub):
            await hub.next_frames(sub, idle=0.05)
            for seq in range(1, 51):
                for robot in ("a", "b"):
                    await redis.xadd(
                        TELEMETRY,
                        as_fields(
                            to_fields(
                                TelemetryRecord(
                                    robot=robot,
                                    seq=seq,
                                    ts=1.0,
                                    x=0,
                                    y=0,
                                    theta=0,
                                    battery=1,
                                    speed=0,
                                )
                            )
                        ),
                    )
            await asyncio.sleep(0.5)  # the client reads nothing meanwhile
            frames = await hub.next_frames(sub)
            samples = [f for f in frames if f.name == "telemetry"]
            assert sorted(f.robot for f in samples) == ["a", "b"]
            assert all('"seq":50' in f.text for f in samples), "the newest sample per robot"
            assert any(f.name == "lagging" for f in frames)
            assert sub.dropped > 0


async def test_redis_losing_its_data_ends_every_feed_of_the_stream(
    redis_private: RedisServer,
) -> None:
    async with running_hub(redis_private.url) as (hub, redis):
        topic = EventsTopic()
        await add_events(redis, 3)
        start = await topic.start(hub.ctx, Filter(), None)
        sub = Subscription(topic, Filter(), cursor=start.cursor, queue_max=10)
        async with hub.subscribe(sub):
            await hub.next_frames(sub, idle=0.05)
            await redis.flushall()  # as after a restart without persistence
            await redis.client_kill_filter(_type="normal", skipme=True)
            with pytest.raises(FeedEnded) as exc:
                await drain(hub, sub, 1)
            assert exc.value.code == CLOSE_STREAM_RESET
            assert exc.value.since == str(ZERO), "events resume from the new stream's start"
        assert hub.position(EVENTS) == ZERO


async def test_a_broken_stream_key_stops_only_its_reader(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    await redis_client.set(EVENTS, "not a stream")  # WRONGTYPE for every stream command
    async with running_hub(redis_server.url, ready=False) as (hub, redis):
        async with asyncio.timeout(3):
            while hub.position(TELEMETRY) is None:  # noqa: ASYNC110 - polled, no event to wait on
                await asyncio.sleep(0.01)
        assert hub.position(EVENTS) is None
        telemetry = TelemetryTopic()
        start = await telemetry.start(hub.ctx, Filter(), None)
        sub = Subscription(telemetry, Filter(), cursor=start.cursor, queue_max=10)
        async with hub.subscribe(sub):
            await hub.next_frames(sub, idle=0.05)
            await redis.xadd(
                TELEMETRY,
                as_fields(
                    to_fields(
                        TelemetryRecord(
                            robot="a", seq=1, ts=1.0, x=0, y=0, theta=0, battery=1, speed=0
                        )
                    )
                ),
            )
            frames = await hub.next_frames(sub, idle=2)
            assert [f.name for f in frames] == ["telemetry"], "the other stream's reader runs on"
        await redis.delete(EVENTS)
        (sid,) = await add_events(redis, 1)
        await read_up_to(hub, sid)  # the events reader recovered by itself


# ---- latest-wins batches: shared, written directly, merged when a client is slow -------


def _sample(robot: str, ms: int) -> Frame:
    return Frame(
        StreamId(ms, 0), "telemetry", f'{{"r":"{robot}","ms":{ms}}}'.encode(), robot, robot
    )


def _plain_sub(cursor: int = 0) -> Subscription:
    sub = Subscription(TelemetryTopic(), Filter(), cursor=StreamId(cursor, 0), queue_max=10)
    sub.caught_up()
    return sub


def test_batch_message_and_its_websocket_frame() -> None:
    batch = FrameBatch([_sample("a", 1), _sample("b", 2)])
    message = batch_message(batch)
    assert orjson.loads(message) == {
        "type": "batch",
        "frames": [{"r": "a", "ms": 1}, {"r": "b", "ms": 2}],
    }
    assert batch.wire == bytes((0x81, len(message))) + message  # FIN + text, unmasked
    assert FrameBatch([_sample("a", 1)]).wire[2:] == b'{"r":"a","ms":1}', "one frame: as is"
    long = b"x" * 70_000
    assert ws_text(long)[:10] == bytes((0x81, 127)) + (70_000).to_bytes(8, "big")
    assert ws_text(b"y" * 300)[:4] == bytes((0x81, 126)) + (300).to_bytes(2, "big")


def test_a_client_that_keeps_up_gets_the_shared_batch_written_directly() -> None:
    sub = _plain_sub()
    written: list[FrameBatch] = []

    def direct(b: FrameBatch) -> bool:
        written.append(b)
        return True

    sub.direct = direct
    batch = FrameBatch([_sample("a", 5), _sample("b", 6)])
    sub.offer(batch)
    assert written == [batch] and written[0] is batch, "the same object for every client"
    assert sub.cursor == StreamId(6, 0)
    assert sub.take_latest() == ([], None), "nothing left pending"


def test_a_busy_client_sends_the_kept_batch_as_the_hubs_one_message() -> None:
    sub = _plain_sub()
    sub.direct = lambda b: False  # the socket is busy or backed up
    batch = FrameBatch([_sample("a", 5), _sample("b", 6)])
    sub.offer(batch)
    ready, wait = sub.take_latest()
    assert ready is batch and wait is None, "the hub's object, not a copy per client"
    assert batch.payload is batch.payload and batch.payload == batch_message(batch)
    assert batch.wire == ws_text(batch.payload)
    assert sub.take_latest() == ([], None)


def test_a_busy_client_keeps_the_batch_then_merges_per_robot() -> None:
    clock = [100.0]
    subs = [_plain_sub(), _plain_sub()]
    for sub in subs:
        sub.direct = lambda b: False  # the socket is busy or backed up
        sub.clock = lambda: clock[0]
    first = FrameBatch([_sample("a", 5), _sample("b", 6)])
    second = FrameBatch([_sample("a", 7)])
    for batch in (first, second):  # the second comes before the feeds sent the first
        for sub in subs:
            sub.offer(batch)
    ready, _ = subs[0].take_latest()
    assert [(f.robot, f.id.ms) for f in ready if f.id] == [("b", 6), ("a", 7)]
    assert isinstance(ready, FrameBatch) and ready.payload == batch_message(ready)
    assert subs[1].take_latest()[0] is ready, "clients behind together share the merge"
    assert subs[0].dropped == 1 and subs[0].lag_notice, "a's older sample was replaced: reported"
    subs[0].lag_notice = False  # sent
    for ms in (8, 9):
        subs[0].offer(FrameBatch([_sample("a", ms)]))
    assert subs[0].dropped == 2 and not subs[0].lag_notice, "one notice a second at most"
    clock[0] += 1.0
    subs[0].offer(FrameBatch([_sample("a", 10)]))
    # (a tuple: lag_notice is narrowed to False by the assignment above)
    assert (subs[0].dropped, subs[0].lag_notice) == (3, True), "... with the count so far"
    assert [f.id.ms for f in subs[0].take_latest()[0] if f.id] == [10]


_keys = st.sampled_from("abcde")


@given(st.lists(st.lists(_keys, min_size=1, max_size=5, unique=True), min_size=1, max_size=6))
def test_merged_batches_hold_what_merging_per_robot_keeps(reads: list[list[str]]) -> None:
    """A plain client's shared merges send what a filtered one (per key) sends."""
    plain = _plain_sub()
    keyed = Subscription(TelemetryTopic(), Filter.make(robots="abcde"), cursor=ZERO, queue_max=10)
    keyed.caught_up()
    plain.direct = lambda b: False
    ms = 0
    for keys in reads:
        batch = []
        for k in keys:
            ms += 1
            batch.append(_sample(k, ms))
        for sub in (plain, keyed):
            sub.offer(FrameBatch(batch))
    got, want = plain.take_latest()[0], keyed.take_latest()[0]
    assert [(f.key, f.id) for f in got] == [(f.key, f.id) for f in want]
    assert plain.dropped == keyed.dropped == ms - len(want)


def test_a_filtered_client_never_takes_the_shared_batch() -> None:
    sub = Subscription(
        TelemetryTopic(), Filter.make(robots=["b"]), cursor=StreamId(0, 0), queue_max=10
    )
    sub.caught_up()
    sub.direct = lambda b: pytest.fail("a filtered client must not get the whole batch")
    sub.offer(FrameBatch([_sample("a", 5), _sample("b", 6)]))
    ready, _ = sub.take_latest()
    assert [f.robot for f in ready] == ["b"]


def _telemetry(robot: str, seq: int) -> dict[str, Any]:
    return to_fields(
        TelemetryRecord(robot=robot, seq=seq, ts=1.0, x=0, y=0, theta=0, battery=1, speed=0)
    )


async def test_a_reader_behind_on_telemetry_skips_to_the_newest_entries(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    async with (
        running_hub(redis_server.url, hub_batch=10) as (hub, redis),
        live_subscription(hub, TelemetryTopic()) as sub,
    ):
        pipe = redis.pipeline(transaction=False)
        for seq in range(1, 101):  # 100 entries at once: ten full reads' worth
            pipe.xadd(TELEMETRY, as_fields(_telemetry(f"r{seq % 20:02d}", seq)))
        ids = await pipe.execute()
        await read_up_to(hub, ids[-1], TELEMETRY)
        frames = await hub.next_frames(sub, idle=1)
        seqs = sorted(orjson.loads(f.data)["sample"]["seq"] for f in frames)
        assert set(range(91, 101)) <= set(seqs), "the newest hub_batch entries"
        # A first read may have caught the pipeline's head (at most one batch) before
        # the rest arrived; everything between it and the newest batch was skipped.
        assert all(s <= 10 or s > 90 for s in seqs), seqs
    assert hub.stats["skipped_ahead"] >= 1


async def test_a_reader_over_a_lasting_load_reads_the_newest_page_then_blocks_again(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    """While every read would be full, the reader asks for the newest page only (no XREAD
    it would throw away); once a page comes back short it waits on XREAD again."""
    async with (
        running_hub(redis_server.url, hub_batch=10) as (hub, redis),
        live_subscription(hub, TelemetryTopic()) as sub,
    ):
        seq = 0
        ids: list[Any] = []
        for _ in range(40):  # bursts of five reads' worth, back to back
            pipe = redis.pipeline(transaction=False)
            for _ in range(50):
                seq += 1
                pipe.xadd(TELEMETRY, as_fields(_telemetry(f"r{seq % 20:02d}", seq)))
            ids = await pipe.execute()
        await read_up_to(hub, ids[-1], TELEMETRY)
        frames = await hub.next_frames(sub, idle=1)
        got = {orjson.loads(f.data)["sample"]["seq"] for f in frames if f.name == "telemetry"}
        assert got >= set(range(seq - 9, seq + 1)), "the newest page"
        assert hub.stats["read_newest"] >= 1
        await asyncio.sleep(0.3)  # idle: the reader is back on its blocking XREAD
        last = await redis.xadd(TELEMETRY, as_fields(_telemetry("r99", seq + 1)))
        frames = await hub.next_frames(sub, idle=1)
        assert [orjson.loads(f.data)["sample"]["seq"] for f in frames] == [seq + 1], frames
        assert isinstance(last, str)  # the hub's client decodes
        assert hub.position(TELEMETRY) == StreamId.parse(last)


async def test_events_are_never_skipped_however_far_behind(
    redis_server: RedisServer, redis_client: aioredis.Redis
) -> None:
    async with (
        running_hub(redis_server.url, hub_batch=10) as (hub, redis),
        live_events(hub, queue_max=1000) as sub,
    ):
        ids = await add_events(redis, 100)
        got, _ = await drain(hub, sub, 100)
        assert got == ids
    assert hub.stats["skipped_ahead"] == 0


@given(
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(0, 2**63 - 1),
    st.text(max_size=12),
)
def test_frames_encode_to_the_json_of_every_other_body(
    x: float, ts: float, seq: int, robot: str
) -> None:
    from protocol.streams import TelemetryRecord
    from web.feeds.frames import frame
    from web.http.jsonutil import dumps
    from web.robots.telemetry_topic import TelemetryFrame

    rec = TelemetryRecord(
        robot=robot, seq=seq, ts=ts, x=x, y=-x, theta=0.5, battery=1.0, speed=0.0, rx=ts
    )
    obj = TelemetryFrame(id="1-2", sample=rec)
    f = frame(obj, id=StreamId(1, 2), key=robot)
    assert orjson.loads(f.data) == orjson.loads(dumps(obj))  # (1e16 is "1e16", not "1e+16")
    assert f.name == "telemetry" and orjson.loads(f.data)["sample"]["robot"] == robot


@given(st.lists(st.text(max_size=3), max_size=9))
def test_an_entrys_field_list_pairs_off_as_redis_keeps_it(flat: list[str]) -> None:
    """Pairs in order, a repeated field keeps its last value; an odd list is refused."""
    if len(flat) % 2:
        with pytest.raises(ValueError, match="shorter"):
            field_map(flat)
        return
    expected: dict[str, str] = {}
    for k, v in zip(flat[::2], flat[1::2], strict=True):
        expected[k] = v
    assert field_map(flat) == expected
    assert list(field_map(flat)) == list(expected)
