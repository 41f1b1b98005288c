"""The gateway as VDA 5050 master control, against a scripted AGV through a real mosquitto.

Every message the gateway publishes is validated against the official 2.1 JSON
schemas (fixed and strict, tests/protocol/vda5050_support.py) and checked for
what they cannot say: sequence ids, edges = nodes - 1, the released prefix,
stitching, headerId per topic, QoS 0 and no retain.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import cast

import pytest
import redis.asyncio as aioredis

from protocol import streams
from protocol.vda5050 import (
    ActionState,
    ActionStatus,
    ConnectionState,
    ErrorLevel,
    ErrorReference,
    EStop,
    Order,
    SafetyState,
    Subtopic,
    order_problems,
    publication,
    stitch_problems,
)
from protocol.vda5050 import Error as VdaError
from tests.integration.mqtt_support import (
    ScriptedAgv,
    events,
    mqtt_settings,
    retained,
    robot_events,
    states_of,
)
from tests.protocol.vda5050_support import assert_schema_valid, serving_factsheet
from tests.servers import MosquittoServer, RedisServer
from tests.support.gateway import RunningGateway, run_gateway
from tests.support.integration import outcome, submit
from tests.support.replies import RawEntries
from tests.support.vda5050 import _has_state, online, remaining
from tests.waiting import wait_for

pytestmark = pytest.mark.integration


def check_order(order: Order) -> None:
    """What every order we publish must satisfy, schema and beyond."""
    assert_schema_valid(Subtopic.ORDER, order)
    assert order_problems(order) == ()
    assert len(order.edges) == len(order.nodes) - 1
    s = order.nodes[0].sequence_id
    assert [n.sequence_id for n in order.nodes] == [s + 2 * i for i in range(len(order.nodes))]
    assert [e.sequence_id for e in order.edges] == [s + 2 * i + 1 for i in range(len(order.edges))]
    assert all(
        n.node_position is not None and n.node_position.map_id == "restaurant" for n in order.nodes
    )


async def test_delivery_is_released_as_base_and_horizon_and_updates_stitch(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    async with ScriptedAgv(mosquitto_private.port, "SN-1") as agv:
        await online(agv, redis_client, "agv-1")
        conn = await events(redis_client, "robot.connection", "agv-1")
        assert [(e["data"]["state"], e["data"]["transport"]) for e in conn] == [
            ("online", "vda5050")
        ]
        cid = await submit(redis_client, "agv-1", "goto", args={"table": "T3", "task": "o-7"})

        order, got = await agv.order()
        check_order(order)
        assert (got.qos, got.retain) == (0, False)
        assert (order.header_id, order.order_update_id, order.version) == (0, 0, "2.1.0")
        assert (order.manufacturer, order.serial_number) == ("Acme", "SN-1")
        assert [n.node_id for n in order.nodes] == ["dock-1", "pass", "T1", "T2", "T3"]
        assert [n.sequence_id for n in order.nodes] == [0, 2, 4, 6, 8]
        # base: where it stands plus release_nodes (2) ahead; the rest is horizon
        assert [n.released for n in order.nodes] == [True, True, True, False, False]
        assert [e.released for e in order.edges] == [True, True, False, False]
        assert [e.edge_id for e in order.edges] == ["dock-1--pass", "pass--T1", "T1--T2", "T2--T3"]
        await asyncio.sleep(0.2)
        assert states_of(await events(redis_client, "robot.state"), "agv-1") == ["idle", "assigned"]

        oid = order.order_id
        await agv.state(order_id=oid, driving=True, **remaining(order, 1))
        ack = await outcome(redis_client, cid)
        assert ack["type"] == "command.acked"
        assert ack["data"]["result"] == {"order": oid, "goal": "T3", "nodes": 5}

        # At the pass (node 1): one more node is released, stitched at T1.
        agv.last_node, agv.last_seq, agv.x, agv.y = "pass", 2, 1.0, 4.0
        await agv.state(order_id=oid, driving=True, **remaining(order, 2))
        update, _ = await agv.order()
        check_order(update)
        assert (update.order_id, update.order_update_id, update.header_id) == (oid, 1, 1)
        assert update.nodes[0] == order.nodes[2]  # the decision point, sent unchanged
        assert [(n.node_id, n.sequence_id, n.released) for n in update.nodes] == [
            ("T1", 4, True),
            ("T2", 6, True),
            ("T3", 8, False),
        ]
        assert stitch_problems(order, update) == ()

        # The AGV "lost" it: the same update again, same orderUpdateId, the next headerId.
        again, _ = await agv.order(timeout=2)
        assert (again.order_update_id, again.header_id) == (1, 2)
        assert (again.nodes, again.edges) == (update.nodes, update.edges)

        agv.last_node, agv.last_seq, agv.x, agv.y = "T1", 4, 4.0, 4.0
        await agv.state(order_id=oid, order_update_id=1, driving=True, **remaining(update, 1))
        last, _ = await agv.order()
        check_order(last)
        assert (last.order_update_id, last.header_id) == (2, 3)
        assert [(n.node_id, n.released) for n in last.nodes] == [("T2", True), ("T3", True)]
        assert stitch_problems(update, last) == ()

        agv.last_node, agv.last_seq, agv.x, agv.y = "T3", 8, 10.0, 4.0
        await agv.state(order_id=oid, order_update_id=2)
        await wait_for(lambda: _has_state(redis_client, "agv-1", "at_table"))
        assert await agv.nothing(0.6) == []  # confirmed: nothing resent
    evs = await events(redis_client, "robot.state", "agv-1")
    assert [(e["data"]["state"], e["data"]["task"], e["data"]["reason"]) for e in evs] == [
        ("idle", "", "idle"),
        ("assigned", "o-7", "delivery_sent"),
        ("en_route", "o-7", "delivery_running"),
        ("at_table", "o-7", "delivery_arrived"),
    ]
    tele = cast(RawEntries, await redis_client.xrange(streams.TELEMETRY))
    recs = [streams.from_fields(streams.TelemetryRecord, f) for _, f in tele]
    assert recs and all(r.robot == "agv-1" and r.transport == "vda5050" for r in recs)
    assert (recs[-1].x, recs[-1].y, recs[-1].battery) == (10.0, 4.0, 80.0)
    assert await retained(mosquitto_private.port, "uagv/v2/+/+/order") == []
    assert gw.gateway.stats.get("vda_published", "order") == 4


async def test_an_order_the_agv_never_confirms_is_published_on_every_attempt(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    """QoS 0: the router's resends are the only way a lost order reaches the AGV."""
    async with ScriptedAgv(mosquitto_private.port, "SN-1") as agv:
        await online(agv, redis_client, "agv-1")
        cid = await submit(redis_client, "agv-1", "goto", args={"table": "T1"})
        sent = [(await agv.order(timeout=3))[0] for _ in range(3)]  # ack_timeout 1 s, 3 attempts
        ev = await outcome(redis_client, cid, timeout=6)
    assert [(o.order_update_id, o.header_id) for o in sent] == [(0, 0), (0, 1), (0, 2)]
    assert len({o.order_id for o in sent}) == 1
    assert all((o.nodes, o.edges) == (sent[0].nodes, sent[0].edges) for o in sent)
    for o in sent:
        check_order(o)
    assert ev["type"] == "command.failed"
    assert (ev["data"]["reason"], ev["data"]["detail"]) == ("timeout", "no ack after 3 attempt(s)")
    assert gw.gateway.stats.get("vda_published", "order") == 3


async def test_an_agv_that_reconnects_gets_its_unconfirmed_order_again_at_once(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    """A fresh ONLINE from an attached AGV (its broker restarted: no will in between) is a
    reconnect: the order it never confirmed goes out again now, not at the next resend,
    which may come after the last attempt (found by tests/chaos/test_broker_killed.py)."""
    settings = mqtt_settings(
        redis_server.url,
        tmp_path,
        mosquitto_private.url,
        commands={"ack_timeout_s": 10.0, "max_attempts": 2, "ttl_s": 30},
    )
    async with run_gateway(settings) as gw, ScriptedAgv(mosquitto_private.port, "SN-1") as agv:
        assert gw.gateway.mqtt is not None
        await asyncio.wait_for(gw.gateway.mqtt.connected.wait(), 5)
        await online(agv, redis_client, "agv-1")
        await submit(redis_client, "agv-1", "goto", args={"table": "T1"})
        first, _ = await agv.order()
        await agv.connection()  # reconnected; the first order is taken as lost
        again, _ = await agv.order(timeout=5)  # the next timed resend is 10 s away
    assert (again.order_id, again.order_update_id) == (first.order_id, 0)
    assert again.header_id == first.header_id + 1
    conn = await events(redis_client, "robot.connection", "agv-1")
    assert [e["data"]["state"] for e in conn] == ["online"]  # the same session goes on


async def test_order_update_error_is_an_alarm_and_never_resent(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    async with ScriptedAgv(mosquitto_private.port, "SN-1") as agv:
        await online(agv, redis_client, "agv-1")
        await submit(redis_client, "agv-1", "goto", args={"table": "T3"})
        order, _ = await agv.order()
        oid = order.order_id
        await agv.state(order_id=oid, driving=True, **remaining(order, 1))
        agv.last_node, agv.last_seq = "pass", 2
        await agv.state(order_id=oid, driving=True, **remaining(order, 2))
        update, _ = await agv.order()
        assert update.order_update_id == 1
        refusal = VdaError(
            error_type="orderUpdateError",
            error_level=ErrorLevel.WARNING,
            error_description="cannot stitch",
            error_references=(ErrorReference(reference_key="orderId", reference_value=oid),),
        )
        for _ in range(3):  # the AGV repeats its error in every state
            await agv.state(order_id=oid, driving=False, errors=(refusal,), **remaining(order, 2))
        assert await agv.nothing(1.5) == []  # resend_s 0.4, max_resends 3: no loop
    await gw.drained()
    alarms = robot_events(await events(redis_client), "agv-1", "order_update_error")
    assert len(alarms) == 1
    assert alarms[0]["level"] == "alarm"
    assert alarms[0]["data"]["data"] == {
        "error_type": "orderUpdateError",
        "error_level": "WARNING",
        "description": "cannot stitch",
        "references": {"orderId": oid},
        "order": oid,
    }


async def test_rejected_order_fails_its_command(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    async with ScriptedAgv(mosquitto_private.port, "SN-1") as agv:
        await online(agv, redis_client, "agv-1")
        cid = await submit(redis_client, "agv-1", "goto", args={"table": "T1"})
        order, _ = await agv.order()
        refusal = VdaError(
            error_type="validationError",
            error_level=ErrorLevel.WARNING,
            error_description="map unknown",
            error_references=(
                ErrorReference(reference_key="orderId", reference_value=order.order_id),
            ),
        )
        await agv.state(errors=(refusal,))
        ev = await outcome(redis_client, cid)
        # A second goto is free to go: the refused order left nothing behind.
        cid2 = await submit(redis_client, "agv-1", "goto", args={"table": "T1"})
        second, _ = await agv.order()
        assert second.order_id != order.order_id
        await agv.state(
            order_id=second.order_id, errors=(refusal,), driving=True, **remaining(second, 1)
        )
        assert (await outcome(redis_client, cid2))["type"] == "command.acked"
    assert ev["type"] == "command.failed" and ev["level"] == "warning"
    assert ev["data"]["reason"] == "refused"
    assert ev["data"]["detail"] == "validationError: map unknown"
    rejected = robot_events(await events(redis_client), "agv-1", "order_rejected")
    assert [e["level"] for e in rejected] == ["alarm"]


async def test_cancel_without_an_order_is_a_warning_not_a_loop(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    async with ScriptedAgv(mosquitto_private.port, "SN-1") as agv:
        await online(agv, redis_client, "agv-1")
        cid = await submit(redis_client, "agv-1", "cancel")
        msg, got = await agv.instant()
        assert_schema_valid(Subtopic.INSTANT_ACTIONS, msg)
        assert (got.qos, got.retain, msg.header_id) == (0, False, 0)
        (action,) = msg.actions
        assert (action.action_type, action.blocking_type) == ("cancelOrder", "HARD")
        warn = VdaError(
            error_type="noOrderToCancel",
            error_level=ErrorLevel.WARNING,
            error_references=(
                ErrorReference(reference_key="actionId", reference_value=action.action_id),
            ),
        )
        failed = ActionState(
            action_id=action.action_id, action_type="cancelOrder", action_status=ActionStatus.FAILED
        )
        await agv.state(action_states=(failed,), errors=(warn,))
        ev = await outcome(redis_client, cid)
        assert await agv.nothing(1.2) == []  # acked: the router does not resend it
    assert ev["type"] == "command.acked" and ev["data"]["result"] == {"cancelled": None}
    (warning,) = robot_events(await events(redis_client), "agv-1", "no_order_to_cancel")
    assert warning["level"] == "warning"
    assert warning["data"]["data"]["references"] == {"actionId": action.action_id}


async def test_estop_pauses_then_latches_and_release_resumes(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    async with ScriptedAgv(mosquitto_private.port, "SN-1") as agv:
        sheet = publication(
            serving_factsheet(agv.headers.header(agv.agv, Subtopic.FACTSHEET, time.time()))
        )
        await agv.raw(sheet.topic, sheet.payload, sheet.qos, sheet.retain)
        await online(agv, redis_client, "agv-1")
        cid = await submit(redis_client, "agv-1", "estop", args={"reason": "spill"})
        first, _ = await agv.instant()
        second, _ = await agv.instant()
        for m in (first, second):
            assert_schema_valid(Subtopic.INSTANT_ACTIONS, m)
        assert [m.header_id for m in (first, second)] == [0, 1]
        assert [a.action_type for a in first.actions] == ["startPause"]  # alone, first
        assert [a.action_type for a in second.actions] == ["robodineEStop"]
        params = second.actions[0].action_parameters
        assert params is not None and params[0].value == "spill"
        done = tuple(
            ActionState(action_id=a.action_id, action_status=ActionStatus.FINISHED)
            for m in (first, second)
            for a in m.actions
        )
        await agv.state(
            paused=True,
            action_states=done,
            safety_state=SafetyState(e_stop=EStop.REMOTE, field_violation=False),
        )
        assert (await outcome(redis_client, cid))["type"] == "command.acked"
        await wait_for(lambda: _has_state(redis_client, "agv-1", "estop"))

        rid = await submit(redis_client, "agv-1", "release")
        rel, _ = await agv.instant()
        resume, _ = await agv.instant()
        assert [a.action_type for a in rel.actions] == ["robodineEStopRelease"]
        assert [a.action_type for a in resume.actions] == ["stopPause"]
        done += tuple(
            ActionState(action_id=a.action_id, action_status=ActionStatus.FINISHED)
            for m in (rel, resume)
            for a in m.actions
        )
        await agv.state(paused=False, action_states=done)
        assert (await outcome(redis_client, rid))["type"] == "command.acked"
        await wait_for(lambda: equals(states_now(redis_client), ["idle", "estop", "idle"]))
    evs = await events(redis_client, "robot.state", "agv-1")
    assert [(e["data"]["state"], e["level"], e["data"]["reason"]) for e in evs] == [
        ("idle", "info", "idle"),
        ("estop", "alarm", "estop_command"),
        ("idle", "info", "idle"),
    ]


async def states_now(r: aioredis.Redis) -> list[str]:
    return states_of(await events(r, "robot.state"), "agv-1")


async def equals(got: Awaitable[object], want: object) -> bool:
    return await got == want


async def test_bad_input_is_counted_and_the_order_is_not_lost(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    port = mosquitto_private.port
    async with ScriptedAgv(port, "SN-2", will=False) as garbage:  # retained before we start
        await garbage.raw(garbage.topic(Subtopic.CONNECTION), b"\x00garbage", 1, retain=True)
    settings = mqtt_settings(redis_server.url, tmp_path, mosquitto_private.url)
    async with run_gateway(settings) as gw, ScriptedAgv(port, "SN-1") as agv:
        assert gw.gateway.mqtt is not None
        await asyncio.wait_for(gw.gateway.mqtt.connected.wait(), 5)
        stats = gw.gateway.stats
        await wait_for(lambda: stats.get("vda_dropped", "bad_message") == 1)
        await online(agv, redis_client, "agv-1")
        cid = await submit(redis_client, "agv-1", "goto", args={"table": "T1"})
        order, _ = await agv.order()

        state_topic = agv.topic(Subtopic.STATE)
        good = agv.state_msg(order_id=order.order_id, driving=True, **remaining(order, 1))
        raw = publication(good).payload
        await agv.raw(state_topic, b'{"headerId": 1, "not json')
        await agv.raw(state_topic, raw.replace(b'"driving":true,', b""))  # a required field
        await agv.raw(state_topic, raw.replace(b'"SN-1"', b'"SN-2"'))  # another AGV's payload
        await agv.raw(state_topic, raw.replace(b'"2.1.0"', b'"1.1.0"'))  # 1.x on a v2 topic
        await agv.raw("uagv/v2/Acme/SN-9/state", raw.replace(b'"SN-1"', b'"SN-9"'))  # unknown
        stale = publication(agv.state_msg()).payload.replace(
            f'"headerId":{agv.headers.peek(agv.agv, Subtopic.STATE)},'.encode(), b'"headerId":0,'
        )
        await agv.raw(state_topic, stale)
        await wait_for(lambda: stats.total("vda_dropped") == 7)
        assert {
            r: stats.get("vda_dropped", r)
            for r in ("bad_message", "unsupported_version", "unknown_agv", "stale_header")
        } == {"bad_message": 5, "unsupported_version": 0, "unknown_agv": 1, "stale_header": 1}
        assert states_of(await events(redis_client, "robot.state"), "agv-1") == [
            "idle",
            "assigned",
        ]  # nothing bad was believed

        await agv.raw(state_topic, raw)  # the good one: the order goes on
        assert (await outcome(redis_client, cid))["type"] == "command.acked"
        await gw.drained()
    rejected = robot_events(await events(redis_client), "agv-1", "message_rejected")
    reasons = sorted(e["data"]["data"]["reason"] for e in rejected)
    assert reasons == ["bad_message", "stale_header"]  # once per reason
    details = {e["data"]["data"]["reason"]: e["data"]["data"]["detail"] for e in rejected}
    assert "not valid JSON" in details["bad_message"]
    assert "SN-9" not in str(await events(redis_client))  # an unknown AGV gets no event


async def test_a_state_with_a_bad_timestamp_is_dropped_not_believed(
    gw: RunningGateway, redis_client: aioredis.Redis, mosquitto_private: MosquittoServer
) -> None:
    async with ScriptedAgv(mosquitto_private.port, "SN-1") as agv:
        await online(agv, redis_client, "agv-1")
        await gw.drained()
        before = await redis_client.xlen(streams.TELEMETRY)
        agv.battery, agv.x = 12.0, 7.0  # what a believed state would show
        good = publication(
            agv.state_msg(safety_state=SafetyState(e_stop=EStop.MANUAL, field_violation=False))
        ).payload
        stamp = good.split(b'"timestamp":"', 1)[1].split(b'"', 1)[0]
        for bad in (b"15.01.2025 12:00", b"not a time at all"):
            await agv.raw(agv.topic(Subtopic.STATE), good.replace(stamp, bad))
        stats = gw.gateway.stats
        await wait_for(lambda: stats.get("vda_dropped", "bad_message") == 2)
        await gw.drained()
        assert await redis_client.xlen(streams.TELEMETRY) == before
        assert states_of(await events(redis_client, "robot.state"), "agv-1") == ["idle"]
        snap = await redis_client.hgetall(streams.robot_key("agv-1"))
        assert snap[b"battery"] != b"12.0"
    (rejected,) = robot_events(await events(redis_client), "agv-1", "message_rejected")
    assert (
        "timestamp '15.01.2025 12:00' is not an RFC 3339 date-time"
        in (rejected["data"]["data"]["detail"])
    )


async def test_presence_from_connection_restart_and_silence(
    redis_server: RedisServer,
    redis_client: aioredis.Redis,
    tmp_path: Path,
    mosquitto_private: MosquittoServer,
) -> None:
    # gateway.offline_after_s (1.0) is for TCP robots: an AGV is never offline by silence.
    settings = mqtt_settings(
        redis_server.url,
        tmp_path,
        mosquitto_private.url,
        gateway={"stale_after_s": 0.5, "offline_after_s": 1.0},
        vda5050={"stale_after_s": 0.6},
    )
    async with ScriptedAgv(mosquitto_private.port, "SN-1") as agv:
        async with run_gateway(settings) as gw:
            assert gw.gateway.mqtt is not None
            await asyncio.wait_for(gw.gateway.mqtt.connected.wait(), 5)
            await online(agv, redis_client, "agv-1")
            # state stops, the MQTT session lives: stale (by vda5050.stale_after_s), not offline
            await wait_for(lambda: equals(conn_states(redis_client), ["online", "stale"]))
            await asyncio.sleep(1.2)  # past gateway.offline_after_s: still only stale
            await agv.state()
            await wait_for(lambda: equals(conn_states(redis_client), ["online", "stale", "online"]))
        restarted = time.time()
        # A new gateway learns the AGV is online from the retained connection message alone.
        async with run_gateway(settings) as gw2:
            assert gw2.gateway.mqtt is not None
            await wait_for(lambda: equals(conn_states(redis_client, after=restarted), ["online"]))
            await agv.connection(ConnectionState.CONNECTIONBROKEN)  # what the broker's will says
            await wait_for(
                lambda: equals(conn_states(redis_client, after=restarted), ["online", "offline"])
            )
            ev = (await events(redis_client, "robot.connection", "agv-1"))[-1]
            assert ev["data"]["reason"] == "connection_broken" and ev["level"] == "warning"


async def conn_states(r: aioredis.Redis, after: float = 0.0) -> list[str]:
    return [
        e["data"]["state"]
        for e in await events(r, "robot.connection", "agv-1")
        if float(e["ts"]) >= after
    ]
