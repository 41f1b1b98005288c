from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.envelope import BodyDecoder, encode, gateway_decoder, robot_decoder
from protocol.errors import RemoteProtocolError
from protocol.messages import (
    Challenge,
    Command,
    Error,
    Heartbeat,
    Ping,
    Welcome,
)
from protocol.vocabulary import CommandAction, ErrorCode
from tests.support.protocol import common, hexes, robot_messages, small_json

gateway_messages = st.one_of(
    st.builds(Challenge, nonce=hexes, **common),
    st.builds(
        Welcome,
        session=st.text(max_size=10),
        proof=hexes,
        heartbeat_s=st.floats(0.1, 10),
        udp_port=st.none() | st.integers(1, 65535),
        **common,
    ),
    st.builds(Ping, **common),
    st.builds(
        Command,
        id=st.text(min_size=1, max_size=10),
        action=st.sampled_from(CommandAction),
        args=small_json,
        attempt=st.integers(1, 5),
        **common,
    ),
    st.builds(Error, code=st.sampled_from(ErrorCode), message=st.text(max_size=20), **common),
)


@given(robot_messages)
def test_robot_messages_round_trip(msg: msgspec.Struct) -> None:
    assert gateway_decoder().decode(encode(msg)) == msg


@given(gateway_messages)
def test_gateway_messages_round_trip(msg: msgspec.Struct) -> None:
    assert robot_decoder().decode(encode(msg)) == msg


@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_arbitrary_bodies_raise_only_remote_protocol_errors(body: bytes) -> None:
    for dec in (gateway_decoder(), robot_decoder()):
        try:
            dec.decode(body)
        except RemoteProtocolError as exc:
            assert exc.code in ErrorCode  # noqa: PT017 - any error must be ours, none is expected


@given(
    st.dictionaries(
        st.sampled_from(["v", "type", "robot", "seq", "x", "y", "battery", "state"]),
        st.none() | st.integers(-(2**63), 2**64 - 1) | st.text(max_size=5) | st.floats(),
    )
)
def test_arbitrary_json_objects_raise_only_remote_protocol_errors(obj: dict[str, Any]) -> None:
    with contextlib.suppress(RemoteProtocolError):
        gateway_decoder().decode(orjson.dumps(obj))


@pytest.mark.parametrize(
    ("body", "code", "fragment"),
    [
        (b"{", ErrorCode.BAD_MESSAGE, "invalid JSON"),
        (b"[1]", ErrorCode.BAD_MESSAGE, "object"),
        (b'{"v":2,"type":"heartbeat","robot":"r"}', ErrorCode.UNSUPPORTED_VERSION, "version 2"),
        (b'{"v":1,"type":"dance","robot":"r"}', ErrorCode.UNKNOWN_TYPE, "dance"),
        (b'{"v":1,"robot":"r"}', ErrorCode.UNKNOWN_TYPE, "None"),
        (
            b'{"v":1,"type":"command","robot":"r","id":"c","action":"goto"}',
            ErrorCode.UNEXPECTED,
            "direction",
        ),
        (
            b'{"v":1,"type":"telemetry","robot":"r","x":1,"y":"2","battery":5}',
            ErrorCode.BAD_MESSAGE,
            "$.y",
        ),
        (b'{"v":1,"type":"telemetry","robot":"r","x":1,"y":2}', ErrorCode.BAD_MESSAGE, "battery"),
        (
            b'{"v":1,"type":"telemetry","robot":"r","x":1,"y":2,"battery":101}',
            ErrorCode.BAD_MESSAGE,
            "$.battery",
        ),
        (b'{"v":1,"type":"heartbeat","robot":"bad id!"}', ErrorCode.BAD_MESSAGE, "$.robot"),
        (b'{"v":1,"type":"state","robot":"r","state":"Idle"}', ErrorCode.BAD_MESSAGE, "$.state"),
    ],
)
def test_each_bad_body_names_what_is_wrong(body: bytes, code: ErrorCode, fragment: str) -> None:
    with pytest.raises(RemoteProtocolError) as err:
        gateway_decoder().decode(body)
    assert err.value.code == code
    assert fragment in err.value.message


def test_non_finite_numbers_are_refused() -> None:
    for bad in (math.inf, -math.inf):
        body = orjson.dumps(
            {"v": 1, "type": "telemetry", "robot": "r", "x": 0, "y": 0, "battery": 1}
        ).replace(b'"x":0', b'"x":' + str(bad).encode())
        with pytest.raises(RemoteProtocolError):
            gateway_decoder().decode(body)


def test_version_always_goes_out_and_missing_version_means_one() -> None:
    assert orjson.loads(encode(Heartbeat(robot="r")))["v"] == 1
    assert gateway_decoder().decode(b'{"type":"heartbeat","robot":"r"}') == Heartbeat(robot="r")


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    msg = gateway_decoder().decode(b'{"v":1,"type":"heartbeat","robot":"r","cpu":0.5}')
    assert msg == Heartbeat(robot="r")


NESTED = [
    b"[" * 30_000 + b"]" * 30_000,
    b'{"v":1,"type":"hello","x":' + b"[" * 30_000 + b"]" * 30_000 + b"}",
    b'{"a":' * 30_000 + b"1" + b"}" * 30_000,
    b'{"v":1,"type":"telemetry","robot":"r","x":1,"y":2,"battery":5,"z":'
    + b'{"a":' * 30_000
    + b"1"
    + b"}" * 30_000
    + b"}",
]


@pytest.mark.parametrize("body", NESTED, ids=["array", "hello", "object", "telemetry"])
@pytest.mark.parametrize("side", [gateway_decoder, robot_decoder])
def test_json_nested_past_the_recursion_limit_is_a_bad_message(
    body: bytes, side: Callable[[], BodyDecoder[Any]]
) -> None:
    with pytest.raises(RemoteProtocolError) as raised:
        side().decode(body)
    assert raised.value.code is ErrorCode.BAD_MESSAGE


_TOO_BIG = b"99999999999999999999999"
_TOO_DEEP = b"[" * 300 + b"]" * 300


@pytest.mark.parametrize("value", [_TOO_BIG, _TOO_DEEP], ids=["int beyond 64 bits", "300 deep"])
@pytest.mark.parametrize(
    ("body", "decoder"),
    [
        (b'{"type":"event","robot":"r","name":"x","data":{"a":%s}}', gateway_decoder),
        (b'{"type":"ack","robot":"r","id":"c1","data":{"a":%s}}', gateway_decoder),
        (
            b'{"type":"command","robot":"r","id":"c1","action":"goto","args":{"a":%s}}',
            robot_decoder,
        ),
    ],
    ids=["event data", "ack data", "command args"],
)
def test_free_form_json_the_streams_cannot_hold_is_a_bad_message(
    body: bytes, decoder: Any, value: bytes
) -> None:
    """msgspec reads it, orjson (which writes the streams) cannot: refused here, not where
    the gateway writes it (it escaped data_received there)."""
    with pytest.raises(RemoteProtocolError) as raised:
        decoder().decode(body % value)
    assert raised.value.code is ErrorCode.BAD_MESSAGE
    assert "data" in raised.value.message or "args" in raised.value.message
