"""VDA 5050 codec: round trips, clear errors for bad input, headers and timestamps."""

from __future__ import annotations

import contextlib
import json
import re
from collections import defaultdict
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.vda5050 import (
    MAX_PAYLOAD,
    UINT32_MAX,
    AgvId,
    Factsheet,
    HeaderCounter,
    InstantActions,
    Order,
    RouteNode,
    State,
    Subtopic,
    VdaTopic,
    Visualization,
    build_order,
    decode,
    decode_connection,
    decode_factsheet,
    decode_for_topic,
    decode_instant_actions,
    decode_order,
    decode_state,
    decode_visualization,
    encode,
    format_timestamp,
    parse_timestamp,
    publication,
    subtopic_of,
)
from protocol.vocabulary import ErrorCode
from tests.protocol.vda5050_support import (
    connections,
    headers,
    instant_actions_messages,
    routes,
    serving_factsheet,
    states,
    visualizations,
)

AGV = AgvId("Acme", "SR-001")
NOW = 1_700_000_000.0


def _order() -> Order:
    route = [RouteNode("a", 0, 0), RouteNode("b", 1, 0, theta=0.5)]
    return build_order(HeaderCounter().header(AGV, Subtopic.ORDER, NOW), "o-1", route, map_id="m")


def _doc(msg: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(encode(msg))
    return doc


# ---- round trips --------------------------------------------------------------------


@given(routes, headers())
def test_orders_round_trip(route: list[RouteNode], header: Any) -> None:
    order = build_order(header, "o-1", route, map_id="floor-1", released=1)
    assert decode_order(encode(order)) == order


@given(instant_actions_messages())
def test_instant_actions_round_trip(msg: InstantActions) -> None:
    assert decode_instant_actions(encode(msg)) == msg


@given(states())
def test_states_round_trip(msg: State) -> None:
    assert decode_state(encode(msg)) == msg


@given(connections())
def test_connections_round_trip(msg: Any) -> None:
    assert decode_connection(encode(msg)) == msg


@given(visualizations)
def test_visualizations_round_trip(msg: Visualization) -> None:
    assert decode_visualization(encode(msg)) == msg


@pytest.mark.parametrize("vendor", [True, False])
def test_factsheet_round_trips(vendor: bool) -> None:
    sheet = serving_factsheet(
        HeaderCounter().header(AGV, Subtopic.FACTSHEET, NOW), vendor_estop=vendor
    )
    assert decode_factsheet(encode(sheet)) == sheet


def test_a_full_factsheet_decodes_ignoring_what_we_do_not_model() -> None:
    doc = _doc(serving_factsheet(HeaderCounter().header(AGV, Subtopic.FACTSHEET, NOW)))
    doc["vehicleConfig"] = {"versions": [{"key": "fw", "value": "1.2"}]}
    doc["agvGeometry"]["envelopes3d"] = [{"set": "base", "format": "DXF"}]
    assert isinstance(decode_factsheet(json.dumps(doc).encode()), Factsheet)


# ---- arbitrary input never escapes as anything but RemoteProtocolError --------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@given(st.sampled_from(sorted(Subtopic)), st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_remote_errors(sub: Subtopic, payload: bytes) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode(sub, payload)


@given(st.sampled_from(sorted(Subtopic)), _json)
def test_arbitrary_json_raises_only_remote_errors(sub: Subtopic, value: Any) -> None:
    with contextlib.suppress(RemoteProtocolError):
        decode(sub, json.dumps(value).encode())


@given(states(), st.data())
def test_a_state_with_one_field_removed_names_it(msg: State, data: st.DataObject) -> None:
    doc = _doc(msg)
    required = [f.encode_name for f in msgspec.structs.fields(State) if f.required]
    missing = data.draw(st.sampled_from(required))
    del doc[missing]
    with pytest.raises(RemoteProtocolError, match=f"invalid VDA 5050 state: .*`{missing}`"):
        decode_state(json.dumps(doc).encode())


# ---- bad input, each with its clear error ---------------------------------------------


def _mutated(change: Any) -> bytes:
    doc = _doc(_order())
    change(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("payload", "code", "words"),
    [
        (b"{", ErrorCode.BAD_MESSAGE, "VDA 5050 order is not valid JSON: Input data was truncated"),
        (b"", ErrorCode.BAD_MESSAGE, "not valid JSON"),
        (b"[]", ErrorCode.BAD_MESSAGE, "Expected `object`, got `array`"),
        (
            _mutated(lambda d: d.pop("orderId")),
            ErrorCode.BAD_MESSAGE,
            "missing required field `orderId`",
        ),
        (
            _mutated(lambda d: d["nodes"][1].pop("released")),
            ErrorCode.BAD_MESSAGE,
            "missing required field `released` - at `$.nodes[1]`",
        ),
        (
            _mutated(lambda d: d.update(headerId="7")),
            ErrorCode.BAD_MESSAGE,
            "Expected `int`, got `str` - at `$.headerId`",
        ),
        (_mutated(lambda d: d.update(headerId=-1)), ErrorCode.BAD_MESSAGE, "at `$.headerId`"),
        (_mutated(lambda d: d.update(headerId=2**32)), ErrorCode.BAD_MESSAGE, "at `$.headerId`"),
        (
            _mutated(lambda d: d["nodes"][0].update(sequenceId=-2)),
            ErrorCode.BAD_MESSAGE,
            "at `$.nodes[0].sequenceId`",
        ),
        (
            _mutated(lambda d: d.update(orderId=None)),
            ErrorCode.BAD_MESSAGE,
            "got `null` - at `$.orderId`",
        ),
        (
            _mutated(lambda d: d["nodes"][1]["nodePosition"].update(theta=4.0)),
            ErrorCode.BAD_MESSAGE,
            "at `$.nodes[1].nodePosition.theta`",
        ),
        (
            _mutated(lambda d: d.update(version="3.0.0")),
            ErrorCode.UNSUPPORTED_VERSION,
            "version '3.0.0', we speak 1.1, 2.0, 2.1",
        ),
        (
            _mutated(lambda d: d.update(version=2)),
            ErrorCode.BAD_MESSAGE,
            "got `int` - at `$.version`",
        ),
        (_mutated(lambda d: d.update(edges={})), ErrorCode.BAD_MESSAGE, "at `$.edges`"),
    ],
)
def test_bad_orders_get_a_clear_error(payload: bytes, code: ErrorCode, words: str) -> None:
    with pytest.raises(RemoteProtocolError, match=re.escape(words)) as info:
        decode_order(payload)
    assert info.value.code is code


def test_null_for_an_optional_field_reads_as_absent() -> None:
    """The schemas refuse null there; we read it as absent (robots send it) and never send it."""
    order = decode_order(_mutated(lambda d: d.update(zoneSetId=None)))
    assert order.zone_set_id is None
    assert b"zoneSetId" not in encode(order)


def test_unknown_enum_values_are_named() -> None:
    doc = _doc(
        InstantActions(
            **HeaderCounter().header(AGV, Subtopic.INSTANT_ACTIONS, NOW).fields(),
            actions=(),
        )
    )
    doc["actions"] = [{"actionType": "x", "actionId": "1", "blockingType": "MAYBE"}]
    with pytest.raises(
        RemoteProtocolError,
        match=re.escape("Invalid enum value 'MAYBE' - at `$.actions[0].blockingType`"),
    ):
        decode_instant_actions(json.dumps(doc).encode())


def test_action_parameter_values_may_be_any_json_but_null() -> None:
    doc = _doc(
        InstantActions(
            **HeaderCounter().header(AGV, Subtopic.INSTANT_ACTIONS, NOW).fields(), actions=()
        )
    )
    values = [1, 2.5, "s", True, [1, "a"], {"k": [1]}]
    doc["actions"] = [
        {
            "actionType": "x",
            "actionId": str(i),
            "blockingType": "NONE",
            "actionParameters": [{"key": "k", "value": v}],
        }
        for i, v in enumerate(values)
    ]
    msg = decode_instant_actions(json.dumps(doc).encode())
    params = [a.action_parameters for a in msg.actions]
    assert [p[0].value for p in params if p is not None] == values  # a None: one short
    doc["actions"][0]["actionParameters"][0]["value"] = None
    with pytest.raises(
        RemoteProtocolError, match=re.escape("at `$.actions[0].actionParameters[0].value`")
    ):
        decode_instant_actions(json.dumps(doc).encode())


def test_oversized_payload_is_refused_before_parsing() -> None:
    with pytest.raises(RemoteProtocolError, match="exceeds") as info:
        decode_state(b" " * (MAX_PAYLOAD + 1))
    assert info.value.code is ErrorCode.FRAME_TOO_LARGE


def test_payload_for_another_agv_is_refused() -> None:
    topic = VdaTopic(AgvId("Acme", "SR-002"), Subtopic.ORDER)
    with pytest.raises(
        RemoteProtocolError, match="serialNumber 'SR-001' does not match topic 'SR-002'"
    ) as info:
        decode_for_topic(topic, encode(_order()))
    assert info.value.code is ErrorCode.BAD_MESSAGE
    other = VdaTopic(AgvId("Other", "SR-001"), Subtopic.ORDER)
    with pytest.raises(
        RemoteProtocolError, match="manufacturer 'Acme' does not match topic 'Other'"
    ):
        decode_for_topic(other, encode(_order()))
    assert decode_for_topic(VdaTopic(AGV, Subtopic.ORDER), encode(_order())) == _order()


def test_visualization_may_omit_who_it_is_from() -> None:
    topic = VdaTopic(AGV, Subtopic.VISUALIZATION)
    assert decode_for_topic(topic, b"{}") == Visualization()


# ---- publication ----------------------------------------------------------------------


def test_publication_addresses_the_message_by_its_header() -> None:
    pub = publication(_order())
    assert (pub.topic, pub.qos, pub.retain) == ("uagv/v2/Acme/SR-001/order", 0, False)
    assert pub.payload == encode(_order())
    assert publication(_order(), interface="plant7").topic == "plant7/v2/Acme/SR-001/order"
    assert subtopic_of(_order()) is Subtopic.ORDER


def test_publication_needs_an_address_and_a_vda_message() -> None:
    with pytest.raises(LocalProtocolError, match="needs manufacturer and serialNumber"):
        publication(Visualization())
    not_vda: Any = RouteNode("a", 0, 0)  # not a VdaMessage, on purpose
    with pytest.raises(LocalProtocolError, match="RouteNode is not a VDA 5050 message"):
        subtopic_of(not_vda)


# ---- headers and timestamps -------------------------------------------------------------


@given(
    st.lists(st.tuples(st.sampled_from(["A", "B"]), st.sampled_from(sorted(Subtopic))), max_size=40)
)
def test_header_ids_rise_by_one_per_topic_per_agv(sends: list[tuple[str, Subtopic]]) -> None:
    counter = HeaderCounter()
    seen: dict[tuple[str, Subtopic], list[int]] = defaultdict(list)
    for serial, sub in sends:
        seen[serial, sub].append(counter.header(AgvId("Acme", serial), sub, NOW).header_id)
    for ids in seen.values():
        assert ids == list(range(len(ids)))


def test_header_carries_the_agv_and_the_version() -> None:
    header = HeaderCounter().header(AGV, Subtopic.ORDER, NOW + 0.1234)
    assert header.fields() == {
        "header_id": 0,
        "timestamp": "2023-11-14T22:13:20.123Z",
        "version": "2.1.0",
        "manufacturer": "Acme",
        "serial_number": "SR-001",
    }


def test_header_id_wraps_at_uint32_and_forget_restarts() -> None:
    counter = HeaderCounter()
    counter._last[AGV, Subtopic.STATE] = UINT32_MAX - 1
    assert [counter.next_id(AGV, Subtopic.STATE) for _ in range(3)] == [UINT32_MAX, 0, 1]
    assert counter.peek(AGV, Subtopic.STATE) == 1
    counter.forget(AGV)
    assert counter.peek(AGV, Subtopic.STATE) is None
    assert counter.next_id(AGV, Subtopic.STATE) == 0


@given(st.floats(0, 253402300799))
def test_timestamps_format_and_parse_back(now: float) -> None:
    text = format_timestamp(now)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", text)
    parsed = parse_timestamp(text)
    assert parsed is not None
    assert abs(parsed - now) < 0.0011  # milliseconds, truncated


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf"), 1e12])
def test_format_timestamp_refuses_out_of_range(bad: float) -> None:
    with pytest.raises(LocalProtocolError, match="out of range"):
        format_timestamp(bad)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("1970-01-01T00:00:01.50Z", 1.5),
        ("2017-04-15T11:40:03.12Z", 1492256403.12),
        ("1970-01-01T01:00:00+01:00", 0.0),
        ("1970-01-01T00:00:02", 2.0),  # no zone: UTC
        ("yesterday", None),
        ("", None),
    ],
)
def test_parse_timestamp_is_lenient(text: str, want: float | None) -> None:
    got = parse_timestamp(text)
    assert got == pytest.approx(want) if want is not None else got is None
