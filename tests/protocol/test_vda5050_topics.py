"""VDA 5050 topics: layout, QoS/retain per the standard, subscriptions, a real broker's will."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from typing import Any

import aiomqtt
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.mqtt_topics import Delivery, Presence, Subscription
from protocol.vda5050 import (
    AGV_PUBLISHES,
    DELIVERY,
    MASTER_PUBLISHES,
    AgvId,
    Connection,
    ConnectionState,
    HeaderCounter,
    PresenceUpdate,
    Subtopic,
    VdaTopic,
    agv_subscriptions,
    connection_last_will,
    connection_message,
    decode_for_topic,
    master_subscriptions,
    presence_of,
    publication,
)
from protocol.vocabulary import ErrorCode
from tests.protocol.vda5050_support import spawn_client_with_will
from tests.servers import MosquittoServer

AGV = AgvId("Acme", "SR-001")
manufacturers = st.text(
    st.characters(codec="utf-8", exclude_characters="/+#\x00"), min_size=1, max_size=12
).filter(lambda s: not s.startswith("$"))
serials = st.from_regex(r"\A[A-Za-z0-9_.:-]{1,20}\Z")


def test_topic_layout() -> None:
    assert VdaTopic(AGV, Subtopic.ORDER).value == "uagv/v2/Acme/SR-001/order"
    assert (
        str(VdaTopic(AGV, Subtopic.INSTANT_ACTIONS, "plant7"))
        == "plant7/v2/Acme/SR-001/instantActions"
    )


@given(manufacturers, serials, st.sampled_from(sorted(Subtopic)))
def test_parse_inverts_build(manufacturer: str, serial: str, sub: Subtopic) -> None:
    topic = VdaTopic(AgvId(manufacturer, serial), sub)
    assert VdaTopic.parse(topic.value, accept=frozenset(Subtopic)) == topic


def test_qos_and_retain_are_what_the_standard_prescribes() -> None:
    """6.2: QoS 0 except connection (QoS 1); 6.14 and 6.15: connection and factsheet retained."""
    assert dict(DELIVERY) == {
        Subtopic.ORDER: Delivery(0),
        Subtopic.INSTANT_ACTIONS: Delivery(0),
        Subtopic.STATE: Delivery(0),
        Subtopic.VISUALIZATION: Delivery(0),
        Subtopic.CONNECTION: Delivery(1, retain=True),
        Subtopic.FACTSHEET: Delivery(0, retain=True),
    }
    assert set(Subtopic) == MASTER_PUBLISHES | AGV_PUBLISHES
    assert not MASTER_PUBLISHES & AGV_PUBLISHES


@pytest.mark.parametrize(
    ("manufacturer", "serial", "words"),
    [
        ("", "1", "manufacturer must be a non-empty string"),
        ("Ac/me", "1", "forbidden in a topic level"),
        ("$SYS", "1", "forbidden in a topic level"),
        ("Acme", "", "serialNumber '' must be"),
        ("Acme", "SR 1", "serialNumber 'SR 1' must be"),
        ("Acme", "SR#1", "serialNumber 'SR#1' must be"),
    ],
)
def test_agv_id_refuses_what_cannot_be_a_topic_level(
    manufacturer: str, serial: str, words: str
) -> None:
    with pytest.raises(LocalProtocolError, match=re.escape(words)):
        AgvId(manufacturer, serial)


def test_topic_refuses_a_bad_interface_or_subtopic() -> None:
    with pytest.raises(LocalProtocolError, match="interface name"):
        VdaTopic(AGV, Subtopic.STATE, "a/b")
    not_a_subtopic: Any = "state"  # a str where a Subtopic belongs, on purpose
    with pytest.raises(LocalProtocolError, match="invalid subtopic"):
        VdaTopic(AGV, not_a_subtopic)


@pytest.mark.parametrize(
    ("topic", "code", "words"),
    [
        (
            "uagv/v2/Acme/SR-001",
            ErrorCode.BAD_MESSAGE,
            "must be uagv/v2/{manufacturer}/{serialNumber}/{subtopic}",
        ),
        ("uagv/v2/Acme/SR-001/state/x", ErrorCode.BAD_MESSAGE, "must be"),
        ("other/v2/Acme/SR-001/state", ErrorCode.BAD_MESSAGE, "must be uagv/v2"),
        (
            "uagv/v3/Acme/SR-001/state",
            ErrorCode.UNSUPPORTED_VERSION,
            "is for VDA 5050 'v3', we speak v1 and v2",
        ),
        (
            "uagv/2/Acme/SR-001/state",
            ErrorCode.UNSUPPORTED_VERSION,
            "is for VDA 5050 '2', we speak v1 and v2",
        ),
        ("uagv/v2//SR-001/state", ErrorCode.BAD_MESSAGE, "manufacturer must be a non-empty string"),
        ("uagv/v2/Acme/SR 1/state", ErrorCode.BAD_MESSAGE, "serialNumber 'SR 1' must be"),
        (
            "uagv/v2/Acme/SR-001/status",
            ErrorCode.UNKNOWN_TYPE,
            "unknown VDA 5050 subtopic 'status'",
        ),
        (
            "uagv/v2/Acme/SR-001/order",
            ErrorCode.UNEXPECTED,
            "'order' is not accepted in this direction",
        ),
    ],
)
def test_parse_refuses_with_a_clear_error(topic: str, code: ErrorCode, words: str) -> None:
    with pytest.raises(RemoteProtocolError, match=re.escape(words)) as info:
        VdaTopic.parse(topic)
    assert info.value.code is code


def test_agv_side_parses_orders_and_other_interfaces() -> None:
    got = VdaTopic.parse("plant7/v2/Acme/SR-001/order", accept=MASTER_PUBLISHES, interface="plant7")
    assert got == VdaTopic(AGV, Subtopic.ORDER, "plant7")
    received = aiomqtt.Topic("uagv/v2/Acme/SR-001/state")
    # parse is typed for str and also takes the Topic aiomqtt hands out (it reads str() of it)
    assert VdaTopic.parse(received).subtopic is Subtopic.STATE  # type: ignore[arg-type]


@given(st.text(max_size=60))
def test_parse_of_any_text_raises_only_remote_errors(topic: str) -> None:
    with contextlib.suppress(RemoteProtocolError):
        assert VdaTopic.parse(topic).value == topic


@pytest.mark.parametrize("major", ["v1", "v2", "v3"])
def test_master_subscribes_to_what_agvs_publish_only(major: str) -> None:
    """Under every major version: an AGV of a version we do not speak is heard (and told)."""
    subs = master_subscriptions()
    for sub in Subtopic:
        topic = aiomqtt.Topic(VdaTopic(AGV, sub, major=major).value)
        matched = [s for s in subs if topic.matches(s.topic_filter)]
        assert [s.qos for s in matched] == ([DELIVERY[sub].qos] if sub in AGV_PUBLISHES else [])
    assert Subscription("uagv/+/+/+/connection", 1) in subs


def test_agv_subscribes_to_its_order_and_instant_actions() -> None:
    assert set(agv_subscriptions(AGV)) == {
        Subscription("uagv/v2/Acme/SR-001/order", 0),
        Subscription("uagv/v2/Acme/SR-001/instantActions", 0),
    }
    assert {s.topic_filter for s in agv_subscriptions(AGV, major="v1")} == {
        "uagv/v1/Acme/SR-001/order",
        "uagv/v1/Acme/SR-001/instantActions",
    }


def test_parse_of_a_version_we_do_not_speak_when_asked_to() -> None:
    got = VdaTopic.parse("uagv/v3/Acme/SR-001/state", majors=None)
    assert (got.major, got.value) == ("v3", "uagv/v3/Acme/SR-001/state")
    assert VdaTopic.parse("uagv/v1/Acme/SR-001/state").major == "v1"
    with pytest.raises(RemoteProtocolError):
        VdaTopic.parse("uagv/version2/Acme/SR-001/state", majors=None)


# ---- against a real broker ----------------------------------------------------------


async def _first_connection(port: int, identifier: str) -> tuple[Connection, bool]:
    async with aiomqtt.Client("127.0.0.1", port, identifier=identifier) as master:
        for sub in master_subscriptions():
            await master.subscribe(sub.topic_filter, qos=sub.qos)
        async with asyncio.timeout(5):
            async for message in master.messages:
                topic = VdaTopic.parse(message.topic.value)
                if topic.agv == AGV and topic.subtopic is Subtopic.CONNECTION:
                    msg = decode_for_topic(topic, message.payload)
                    assert isinstance(msg, Connection)
                    return msg, message.retain
    raise AssertionError("unreachable")  # pragma: no cover


@pytest.mark.integration
async def test_connection_last_will_through_a_real_broker(
    mosquitto_server: MosquittoServer,
) -> None:
    """Retained ONLINE, then the will CONNECTIONBROKEN when the AGV dies, seen by master control."""
    port, counter = mosquitto_server.port, HeaderCounter()
    will = connection_last_will(counter.header(AGV, Subtopic.CONNECTION, 1_700_000_000.0))
    agv = spawn_client_with_will(port, "agv-SR-001", agv_subscriptions(AGV)[0].topic_filter, will)
    assert agv.stdout is not None
    try:
        async with asyncio.timeout(10):  # the will is only armed once the AGV is connected
            while b"ready" not in await asyncio.to_thread(agv.stdout.readline):
                assert agv.poll() is None, "the stand-in client exited"
        online = publication(
            connection_message(
                counter.header(AGV, Subtopic.CONNECTION, 1_700_000_001.0), ConnectionState.ONLINE
            )
        )
        async with aiomqtt.Client("127.0.0.1", port, identifier="agv-pub") as pub:
            await pub.publish(online.topic, online.payload, qos=online.qos, retain=online.retain)
        msg, retained = await _first_connection(port, "mc-1")
        assert (msg.connection_state, msg.header_id, retained) == (ConnectionState.ONLINE, 1, True)
        agv.send_signal(signal.SIGKILL)
        agv.wait(5)
        async with asyncio.timeout(5):
            while True:
                msg, retained = await _first_connection(port, "mc-2")
                if msg.connection_state is not ConnectionState.ONLINE:
                    break
                await asyncio.sleep(0.05)
        assert (msg.connection_state, msg.header_id, retained) == (
            ConnectionState.CONNECTIONBROKEN,
            0,
            True,
        )
        assert presence_of(msg) == PresenceUpdate(Presence.OFFLINE, "connection_broken")
    finally:
        agv.kill()
        agv.wait(5)
        agv.stdout.close()
