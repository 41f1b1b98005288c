"""Both ends of the handshake through an in-memory pipe (h11's ConnectionPair idea)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.messages import Challenge, Heartbeat, Hello, State, Welcome
from protocol.tcp import NEED_DATA, GatewayConnection, Phase, RobotConnection
from protocol.vocabulary import ErrorCode, RobotKind

KEY = bytes(range(32))


def pair(
    key_on_gateway: bytes | None = KEY, robot_key: bytes = KEY
) -> tuple[GatewayConnection, RobotConnection]:
    gw = GatewayConnection(lambda r: key_on_gateway if r == "r1" else None, "ab" * 16, gateway="g")
    bot = RobotConnection("r1", RobotKind.SERVING, robot_key, "cd" * 16, firmware="1.0")
    return gw, bot


def handshake(gw: GatewayConnection, bot: RobotConnection) -> Welcome:
    bot.receive_data(gw.challenge())
    challenge = bot.next_event()
    assert isinstance(challenge, Challenge) and challenge.gateway == "g"
    gw.receive_data(bot.hello(challenge, ts=1.0))
    hello = gw.next_event()
    assert isinstance(hello, Hello) and hello.firmware == "1.0"
    bot.receive_data(gw.welcome("s1", 1.0, 7701, ts=2.0))
    welcome = bot.next_event()
    assert isinstance(welcome, Welcome)
    return welcome


def test_handshake_authenticates_both_ways() -> None:
    gw, bot = pair()
    welcome = handshake(gw, bot)
    assert (welcome.session, welcome.udp_port, welcome.heartbeat_s) == ("s1", 7701, 1.0)
    assert gw.phase is Phase.OPEN and bot.phase is Phase.OPEN
    assert (gw.robot, gw.kind) == ("r1", RobotKind.SERVING)
    gw.receive_data(bot.send(State(robot="r1", state="idle")))
    assert gw.next_event() == State(robot="r1", state="idle")
    assert gw.next_event() is NEED_DATA


@pytest.mark.parametrize("gateway_key", [bytes(32), None])
def test_wrong_key_or_unknown_robot_fail_the_same_way(gateway_key: bytes | None) -> None:
    gw, bot = pair(key_on_gateway=gateway_key)
    bot.receive_data(gw.challenge())
    challenge = bot.next_event()
    assert isinstance(challenge, Challenge)
    gw.receive_data(bot.hello(challenge, ts=1.0))
    with pytest.raises(RemoteProtocolError) as err:
        gw.next_event()
    assert (
        err.value.code == ErrorCode.AUTH_FAILED
        and err.value.message == "hello proof does not verify"
    )
    assert gw.phase is Phase.HANDSHAKE


def test_a_hello_for_another_connection_does_not_verify() -> None:
    gw1, bot = pair()
    gw2 = GatewayConnection(lambda r: KEY, "ef" * 16)
    bot.receive_data(gw1.challenge())
    challenge = bot.next_event()
    assert isinstance(challenge, Challenge)
    hello = bot.hello(challenge, ts=1.0)
    gw2.receive_data(hello)  # replayed onto a connection with another nonce
    with pytest.raises(RemoteProtocolError, match="does not verify"):
        gw2.next_event()


def test_robot_rejects_a_gateway_without_its_key() -> None:
    gw, bot = pair(key_on_gateway=KEY, robot_key=KEY)
    bot.receive_data(gw.challenge())
    challenge = bot.next_event()
    assert isinstance(challenge, Challenge)
    gw.receive_data(bot.hello(challenge, ts=1.0))
    gw.next_event()
    impostor = GatewayConnection(lambda r: bytes(32), gw.nonce)
    impostor._key, impostor.robot, impostor._cnonce = bytes(32), "r1", bot.cnonce
    bot.receive_data(impostor.welcome("s", 1.0, None, ts=1.0))
    with pytest.raises(RemoteProtocolError) as err:
        bot.next_event()
    assert err.value.code == ErrorCode.AUTH_FAILED and "not our gateway" in err.value.message


def test_only_hello_before_authentication_and_never_twice() -> None:
    gw, bot = pair()
    gw.receive_data(bot.send(Heartbeat(robot="r1")))
    with pytest.raises(RemoteProtocolError) as err:
        gw.next_event()
    assert err.value.code == ErrorCode.UNEXPECTED
    gw, bot = pair()
    handshake(gw, bot)
    gw.receive_data(bot.hello(Challenge(nonce="00" * 16), ts=3.0))
    with pytest.raises(RemoteProtocolError, match="open connection"):
        gw.next_event()


def test_messages_must_name_the_authenticated_robot() -> None:
    gw, bot = pair()
    handshake(gw, bot)
    gw.receive_data(bot.send(Heartbeat(robot="r2")))
    with pytest.raises(RemoteProtocolError, match="r2"):
        gw.next_event()


def test_welcome_before_hello_is_a_local_error() -> None:
    gw, _ = pair()
    with pytest.raises(LocalProtocolError):
        gw.welcome("s", 1.0, None, ts=0)


@given(st.binary(max_size=500))
def test_garbage_after_the_handshake_never_breaks_the_codec(data: bytes) -> None:
    gw, bot = pair()
    handshake(gw, bot)
    gw.receive_data(data)
    for _ in range(50):
        try:
            if gw.next_event() is NEED_DATA:
                break
        except RemoteProtocolError:
            continue
