"""robodine/v1 MQTT topics: build/parse, subscriptions, presence, payload checks."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from typing import Any

import aiomqtt
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.envelope import encode
from protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from protocol.messages import Ack, Command, Event, Heartbeat, State, Telemetry
from protocol.mqtt_topics import (
    DELIVERY,
    GATEWAY_CHANNELS,
    ROBOT_CHANNELS,
    TOPIC_ROOT,
    Channel,
    ChannelMessage,
    Inbound,
    InboundDecoder,
    Presence,
    Publication,
    RobotTopic,
    Subscription,
    decode_command,
    gateway_subscriptions,
    last_will,
    parse_presence,
    presence_publication,
    publication_for,
    robot_subscriptions,
)
from protocol.vocabulary import CommandAction, ErrorCode
from tests.protocol.vda5050_support import spawn_client_with_will
from tests.servers import MosquittoServer

robot_ids = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")

TELEMETRY = Telemetry(robot="r1", seq=3, ts=1.5, x=1.0, y=2.0, battery=80.0)


def test_topic_value_for_every_channel() -> None:
    for channel in Channel:
        assert RobotTopic("r1", channel).value == f"robodine/v1/robots/r1/{channel.value}"
    assert str(RobotTopic("r1", Channel.ACK)) == "robodine/v1/robots/r1/ack"


@given(robot_ids, st.sampled_from(sorted(Channel)))
def test_parse_inverts_build(robot: str, channel: Channel) -> None:
    topic = RobotTopic(robot, channel)
    accept = frozenset(Channel)
    assert RobotTopic.parse(topic.value, accept=accept) == topic
    # typed for str, parse also takes the Topic aiomqtt hands out (it reads str() of it)
    assert RobotTopic.parse(aiomqtt.Topic(topic.value), accept=accept) == topic  # type: ignore[arg-type]


@pytest.mark.parametrize("robot", ["", "-r1", "r 1", "r/1", "r+", "x" * 65, "é"])
def test_building_with_a_bad_robot_id_is_a_local_error(robot: str) -> None:
    with pytest.raises(LocalProtocolError, match="invalid robot id"):
        RobotTopic(robot, Channel.STATE)


def test_building_with_a_bad_channel_is_a_local_error() -> None:
    not_a_channel: Any = "state"  # a str where a Channel belongs, on purpose
    with pytest.raises(LocalProtocolError, match="invalid channel"):
        RobotTopic("r1", not_a_channel)


@pytest.mark.parametrize(
    ("topic", "code", "words"),
    [
        ("robodine/v2/robots/r1/state", ErrorCode.BAD_MESSAGE, "is not under"),
        ("other/r1/state", ErrorCode.BAD_MESSAGE, "is not under"),
        ("robodine/v1/robots/r1", ErrorCode.BAD_MESSAGE, "must be robodine/v1/robots/{robot_id}"),
        ("robodine/v1/robots/r1/state/x", ErrorCode.BAD_MESSAGE, "must be"),
        ("robodine/v1/robots//state", ErrorCode.BAD_MESSAGE, "invalid robot id ''"),
        ("robodine/v1/robots/+/state", ErrorCode.BAD_MESSAGE, "invalid robot id '+'"),
        ("robodine/v1/robots/r1/battery", ErrorCode.UNKNOWN_TYPE, "unknown channel 'battery'"),
        ("robodine/v1/robots/r1/command", ErrorCode.UNEXPECTED, "not accepted"),
    ],
)
def test_parse_refuses_with_a_clear_error(topic: str, code: ErrorCode, words: str) -> None:
    with pytest.raises(RemoteProtocolError, match=re.escape(words)) as info:
        RobotTopic.parse(topic)
    assert info.value.code is code


def test_robot_side_accepts_only_commands() -> None:
    assert RobotTopic.parse("robodine/v1/robots/r1/command", accept=GATEWAY_CHANNELS).channel is (
        Channel.COMMAND
    )
    with pytest.raises(RemoteProtocolError) as info:
        RobotTopic.parse("robodine/v1/robots/r1/telemetry", accept=GATEWAY_CHANNELS)
    assert info.value.code is ErrorCode.UNEXPECTED


@given(st.text(max_size=80))
def test_parse_of_any_text_raises_only_remote_errors(topic: str) -> None:
    with contextlib.suppress(RemoteProtocolError):
        parsed = RobotTopic.parse(topic)
        assert parsed.value == topic


def test_delivery_table_covers_every_channel() -> None:
    assert set(DELIVERY) == set(Channel)
    assert DELIVERY[Channel.TELEMETRY].qos == 0
    assert DELIVERY[Channel.PRESENCE].retain is True
    assert all(DELIVERY[c].qos == 1 for c in (Channel.STATE, Channel.EVENT, Channel.ACK))
    assert DELIVERY[Channel.COMMAND].qos == 1
    assert not any(DELIVERY[c].retain for c in Channel if c is not Channel.PRESENCE)


def test_gateway_subscribes_to_every_robot_channel_and_never_to_commands() -> None:
    subs = gateway_subscriptions()
    assert {s.topic_filter for s in subs} == {f"{TOPIC_ROOT}/+/{c.value}" for c in ROBOT_CHANNELS}
    for channel in Channel:
        topic = aiomqtt.Topic(RobotTopic("r1", channel).value)
        matched = [s for s in subs if topic.matches(s.topic_filter)]
        assert len(matched) == (channel in ROBOT_CHANNELS)
        if matched:
            assert matched[0].qos == DELIVERY[channel].qos


def test_robot_subscribes_to_its_own_commands() -> None:
    assert robot_subscriptions("r7") == (Subscription("robodine/v1/robots/r7/command", 1),)


@pytest.mark.parametrize("bad", ["", "a/#/b", "a/b#", "a+/b"])
def test_subscription_refuses_bad_filters(bad: str) -> None:
    with pytest.raises(LocalProtocolError, match="invalid topic filter"):
        Subscription(bad, 0)


def test_publication_refuses_wildcards_and_bad_qos() -> None:
    with pytest.raises(LocalProtocolError, match="invalid topic to publish"):
        Publication("a/+/b", b"", 0)
    bad_qos: Any = 3  # not one of the QoS the type allows, on purpose
    with pytest.raises(LocalProtocolError, match="invalid QoS"):
        Publication("a/b", b"", bad_qos)


# ---- presence ---------------------------------------------------------------------


def test_presence_is_retained_and_the_will_says_offline() -> None:
    online = presence_publication("r1", Presence.ONLINE)
    assert online == Publication("robodine/v1/robots/r1/presence", b"online", 1, retain=True)
    assert last_will("r1") == Publication("robodine/v1/robots/r1/presence", b"offline", 1, True)


@pytest.mark.parametrize(
    ("payload", "want"), [(b"online", Presence.ONLINE), (b"offline\n", Presence.OFFLINE)]
)
def test_parse_presence(payload: bytes, want: Presence) -> None:
    assert parse_presence(payload) is want


@pytest.mark.parametrize("payload", [b"", b"ONLINE", b"maybe", b"\xff\xfe", b'{"online":true}'])
def test_parse_presence_refuses_anything_else(payload: bytes) -> None:
    with pytest.raises(RemoteProtocolError, match="presence payload must be") as info:
        parse_presence(payload)
    assert info.value.code is ErrorCode.BAD_MESSAGE


# ---- payloads -------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg",
    [
        TELEMETRY,
        State(robot="r1", seq=4, state="en_route", task="t1"),
        Event(robot="r1", seq=5, name="arrived", data={"table": 7}),
        Ack(robot="r1", seq=6, id="c1", ok=False, reason="busy"),
    ],
)
def test_robot_message_round_trips_through_its_channel(msg: ChannelMessage) -> None:
    pub = publication_for(msg)
    inbound = InboundDecoder().decode(pub.topic, pub.payload)
    assert inbound == Inbound(RobotTopic.parse(pub.topic), msg)
    assert inbound.robot == "r1"
    assert (pub.qos, pub.retain) == (DELIVERY[inbound.topic.channel].qos, False)


def test_presence_message_decodes_to_presence() -> None:
    pub = last_will("r1")
    assert InboundDecoder().decode(pub.topic, pub.payload).message is Presence.OFFLINE


def test_payload_naming_another_robot_is_refused() -> None:
    with pytest.raises(
        RemoteProtocolError, match="payload robot 'r2' does not match topic robot 'r1'"
    ) as info:
        InboundDecoder().decode(
            "robodine/v1/robots/r1/telemetry",
            encode(msgspec.structs.replace(TELEMETRY, robot="r2")),
        )
    assert info.value.code is ErrorCode.BAD_MESSAGE


def test_payload_without_robot_is_refused() -> None:
    body = encode(msgspec.structs.replace(TELEMETRY, robot=""))
    with pytest.raises(RemoteProtocolError, match="payload robot '' does not match") as info:
        InboundDecoder().decode("robodine/v1/robots/r1/telemetry", body)
    assert info.value.code is ErrorCode.BAD_MESSAGE


def test_message_on_the_wrong_channel_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="a 'telemetry' message on the 'event' channel"):
        InboundDecoder().decode("robodine/v1/robots/r1/event", encode(TELEMETRY))
    with pytest.raises(RemoteProtocolError, match="a 'heartbeat' message on the 'state' channel"):
        InboundDecoder().decode("robodine/v1/robots/r1/state", encode(Heartbeat(robot="r1")))


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        (b"{not json", ErrorCode.BAD_MESSAGE, "invalid JSON"),
        (
            b'{"v":1,"type":"telemetry","robot":"r1","y":1,"battery":5}',
            ErrorCode.BAD_MESSAGE,
            "`x`",
        ),
        (
            b'{"v":1,"type":"telemetry","robot":"r1","x":"1","y":1,"battery":5}',
            ErrorCode.BAD_MESSAGE,
            "Expected `float`, got `str` - at `\\$.x`",
        ),
        (
            b'{"v":1,"type":"telemetry","robot":"r1","x":1,"y":1,"battery":500}',
            ErrorCode.BAD_MESSAGE,
            "battery",
        ),
        (b'{"v":1,"type":"teleport","robot":"r1"}', ErrorCode.UNKNOWN_TYPE, "unknown message type"),
        (
            b'{"v":2,"type":"telemetry","robot":"r1","x":1,"y":1,"battery":5}',
            ErrorCode.UNSUPPORTED_VERSION,
            "version 2",
        ),
        (
            b'{"v":1,"type":"command","robot":"r1","id":"c","action":"goto"}',
            ErrorCode.UNEXPECTED,
            "not sent in this direction",
        ),
    ],
)
def test_bad_payloads_get_a_clear_error(payload: bytes, code: ErrorCode, words: str) -> None:
    with pytest.raises(RemoteProtocolError, match=words) as info:
        InboundDecoder().decode("robodine/v1/robots/r1/telemetry", payload)
    assert info.value.code is code


def test_oversized_payload_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="payload of 101 bytes exceeds 100") as info:
        InboundDecoder(max_size=100).decode("robodine/v1/robots/r1/event", b" " * 101)
    assert info.value.code is ErrorCode.FRAME_TOO_LARGE


def test_unknown_channel_is_refused_before_the_payload_is_read() -> None:
    with pytest.raises(RemoteProtocolError, match="unknown channel 'camera'") as info:
        InboundDecoder().decode("robodine/v1/robots/r1/camera", b"\x00binary")
    assert info.value.code is ErrorCode.UNKNOWN_TYPE


def test_one_decoder_remembers_good_topics_and_refuses_bad_ones_every_time() -> None:
    decoder = InboundDecoder()
    pub = publication_for(TELEMETRY)
    first, again = decoder.decode(pub.topic, pub.payload), decoder.decode(pub.topic, pub.payload)
    assert first == again == Inbound(RobotTopic("r1", Channel.TELEMETRY), TELEMETRY)
    assert decoder.topic(pub.topic) is first.topic
    for _ in range(2):
        with pytest.raises(RemoteProtocolError, match="unknown channel 'camera'"):
            decoder.message("robodine/v1/robots/r1/camera", pub.payload)
    with pytest.raises(RemoteProtocolError, match="does not match topic robot 'r2'"):
        decoder.message("robodine/v1/robots/r2/telemetry", pub.payload)


@given(st.sampled_from(sorted(ROBOT_CHANNELS)), st.binary(max_size=200))
def test_arbitrary_payloads_raise_only_remote_errors(channel: Channel, payload: bytes) -> None:
    decoder = InboundDecoder()
    try:
        inbound = decoder.decode(RobotTopic("r1", channel).value, payload)
    except RemoteProtocolError:
        return
    except ProtocolError as exc:  # pragma: no cover - the assertion explains
        pytest.fail(f"not a RemoteProtocolError: {exc!r}")
    assert inbound.robot == "r1"


def test_commands_go_to_the_robot_and_decode_robot_side() -> None:
    cmd = Command(robot="r9", seq=1, id="c1", action=CommandAction.GOTO, args={"table": 4})
    pub = publication_for(cmd)
    assert (pub.topic, pub.qos, pub.retain) == ("robodine/v1/robots/r9/command", 1, False)
    assert decode_command(pub.topic, pub.payload) == cmd
    with pytest.raises(
        RemoteProtocolError, match="payload robot 'r9' does not match topic robot 'r8'"
    ):
        decode_command("robodine/v1/robots/r8/command", pub.payload)
    with pytest.raises(RemoteProtocolError, match="not sent in this direction"):
        decode_command(pub.topic, encode(TELEMETRY))


def test_messages_without_a_channel_are_not_published() -> None:
    no_channel: Any = Heartbeat(robot="r1")  # not a ChannelMessage, on purpose
    with pytest.raises(LocalProtocolError, match="Heartbeat is not sent over MQTT"):
        publication_for(no_channel)


# ---- against a real broker ----------------------------------------------------------


async def _next_presence(
    messages: aiomqtt.client.MessagesIterator, robot: str
) -> tuple[Presence, bool]:
    decoder = InboundDecoder()
    async with asyncio.timeout(5):
        async for message in messages:
            inbound = decoder.decode(message.topic.value, message.payload)
            if inbound.robot == robot:
                assert isinstance(inbound.message, Presence)
                return inbound.message, message.retain
    raise AssertionError("unreachable")  # pragma: no cover


async def _subscribed_gateway(port: int, identifier: str) -> aiomqtt.Client:
    client = aiomqtt.Client("127.0.0.1", port, identifier=identifier)
    await client.__aenter__()
    for sub in gateway_subscriptions():
        await client.subscribe(sub.topic_filter, qos=sub.qos)
    return client


@pytest.mark.integration
async def test_presence_and_last_will_through_a_real_broker(
    mosquitto_server: MosquittoServer,
) -> None:
    """Retained 'online', then a robot that dies without DISCONNECT: the broker
    publishes its will, the gateway decodes 'offline', and it stays retained."""
    port, will = mosquitto_server.port, last_will("sim-7")
    robot = spawn_client_with_will(
        port, "sim-7", robot_subscriptions("sim-7")[0].topic_filter, will
    )
    assert robot.stdout is not None
    try:
        async with asyncio.timeout(10):  # the will is only armed once the robot is connected
            while b"ready" not in await asyncio.to_thread(robot.stdout.readline):
                assert robot.poll() is None, "the stand-in client exited"
        online = presence_publication("sim-7", Presence.ONLINE)
        async with aiomqtt.Client("127.0.0.1", port, identifier="sim-7-pub") as pub:
            await pub.publish(online.topic, online.payload, qos=online.qos, retain=online.retain)
        watcher = await _subscribed_gateway(port, "gw-watch")
        try:
            assert await _next_presence(watcher.messages, "sim-7") == (Presence.ONLINE, True)
            robot.send_signal(signal.SIGKILL)
            assert (await _next_presence(watcher.messages, "sim-7"))[0] is Presence.OFFLINE
        finally:
            await watcher.__aexit__(None, None, None)
        late = await _subscribed_gateway(port, "gw-late")
        try:
            assert await _next_presence(late.messages, "sim-7") == (Presence.OFFLINE, True)
        finally:
            await late.__aexit__(None, None, None)
    finally:
        robot.kill()
        robot.wait(5)
        robot.stdout.close()
