"""Every VDA 5050 message we build or model validates against the official 2.1.0 schemas.

Validation runs on the encoded bytes, against the schemas with the standard's
fixes and a strict overlay (tests/protocol/vda5050_support.py). The models'
field lists are also compared with the schemas, so a renamed or forgotten
field fails here even when no builder emits it.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.vda5050 import (
    Action,
    ActionState,
    AgvPosition,
    BatteryState,
    ConnectionState,
    Edge,
    EdgeState,
    Error,
    Factsheet,
    HeaderCounter,
    InstantActions,
    Node,
    NodePosition,
    NodeState,
    Order,
    RouteNode,
    SafetyState,
    State,
    Subtopic,
    Visualization,
    build_order,
    build_order_update,
    cancel_order,
    connection_last_will,
    connection_message,
    encode,
    estop_plan,
    instant_actions,
    release_plan,
    start_pause,
    state_request,
    stop_pause,
)
from protocol.vda5050.codec import MESSAGE_TYPES
from protocol.vda5050.topics import AgvId
from tests.protocol.vda5050_support import (
    assert_schema_valid,
    connections,
    instant_actions_messages,
    raw_schema,
    routes,
    schema_errors,
    serving_factsheet,
    states,
    visualizations,
)

AGV = AgvId("Acme", "SR-001")


def _header(sub: Subtopic, counter: HeaderCounter | None = None) -> Any:
    return (counter or HeaderCounter()).header(AGV, sub, 1_700_000_000.25)


@given(routes, st.data())
def test_built_orders_and_updates_are_schema_valid(route: list[Any], data: st.DataObject) -> None:
    counter = HeaderCounter()
    released = data.draw(st.integers(1, len(route)))
    order = build_order(
        _header(Subtopic.ORDER, counter), "o-1", route, map_id="floor-1", released=released
    )
    assert_schema_valid(Subtopic.ORDER, order)
    extension = data.draw(routes)
    update = build_order_update(
        _header(Subtopic.ORDER, counter),
        order,
        extension,
        released=data.draw(st.integers(0, len(extension))),
    )
    assert_schema_valid(Subtopic.ORDER, update)


def test_instant_actions_we_send_are_schema_valid() -> None:
    counter = HeaderCounter()
    factsheet = serving_factsheet(_header(Subtopic.FACTSHEET))
    groups = [
        (cancel_order("a1"),),
        (start_pause("a2"), state_request("a3")),
        (stop_pause("a4"),),
        *estop_plan("e1", factsheet, reason="staff pressed e-stop"),
        *release_plan("e1", factsheet),
    ]
    for group in groups:
        assert_schema_valid(
            Subtopic.INSTANT_ACTIONS,
            instant_actions(_header(Subtopic.INSTANT_ACTIONS, counter), group),
        )


@given(instant_actions_messages())
def test_any_instant_actions_model_is_schema_valid(msg: InstantActions) -> None:
    assert_schema_valid(Subtopic.INSTANT_ACTIONS, msg)


@given(states())
def test_any_state_model_is_schema_valid(msg: State) -> None:
    assert_schema_valid(Subtopic.STATE, msg)


@given(connections())
def test_any_connection_model_is_schema_valid(msg: Any) -> None:
    assert_schema_valid(Subtopic.CONNECTION, msg)


@given(visualizations)
def test_any_visualization_model_is_schema_valid(msg: Visualization) -> None:
    assert_schema_valid(Subtopic.VISUALIZATION, msg)


@pytest.mark.parametrize("state", list(ConnectionState))
def test_connection_messages_and_the_last_will_are_schema_valid(state: ConnectionState) -> None:
    assert_schema_valid(
        Subtopic.CONNECTION, connection_message(_header(Subtopic.CONNECTION), state)
    )
    will = connection_last_will(_header(Subtopic.CONNECTION))
    assert not schema_errors(Subtopic.CONNECTION, json.loads(will.payload))


@pytest.mark.parametrize("vendor", [True, False])
def test_factsheet_is_schema_valid(vendor: bool) -> None:
    assert_schema_valid(
        Subtopic.FACTSHEET, serving_factsheet(_header(Subtopic.FACTSHEET), vendor_estop=vendor)
    )


# ---- the validator itself catches what it should -----------------------------------


def _order_document() -> dict[str, Any]:
    route = [RouteNode("a", 0, 0), RouteNode("b", 1, 0)]
    order = build_order(_header(Subtopic.ORDER), "o-1", route, map_id="m")
    doc: dict[str, Any] = json.loads(encode(order))
    return doc


def test_strict_overlay_catches_a_misspelled_optional_field() -> None:
    doc = _order_document()
    doc["nodes"][0]["nodeDescripton"] = "typo"
    assert not schema_errors(Subtopic.ORDER, doc, strict=False)
    assert any("nodeDescripton" in e for e in schema_errors(Subtopic.ORDER, doc))


def test_validator_checks_timestamps_and_required_fields() -> None:
    doc = _order_document()
    doc["timestamp"] = "yesterday"
    del doc["orderId"]
    errors = schema_errors(Subtopic.ORDER, doc)
    assert any("timestamp" in e and "date-time" in e for e in errors), errors
    assert any("'orderId' is a required property" in e for e in errors), errors


def test_schema_quirks_are_still_there() -> None:
    """If a new schema copy fixes these, vda5050_support's fixes can go."""
    status = raw_schema(Subtopic.STATE)["properties"]["actionStates"]["items"]["properties"][
        "actionStatus"
    ]
    assert "PAUSED" not in status["enum"]
    blocking = raw_schema(Subtopic.FACTSHEET)["properties"]["protocolFeatures"]["properties"][
        "agvActions"
    ]["items"]["properties"]["blockingTypes"]
    assert "enum" in blocking
    assert "items" not in blocking


def test_the_2_0_0_schema_quirks_are_still_there() -> None:
    """If a new 2.0.0 copy fixes these, vda5050_support's 2.0.0 fixes can go."""
    sheet = raw_schema(Subtopic.FACTSHEET, "2.0.0")
    assert "properties" not in sheet and "typeSpecification" in sheet
    action = raw_schema(Subtopic.INSTANT_ACTIONS, "2.0.0")["properties"]["actions"]["items"]
    assert "actionName" in action["required"] and "actionType" not in action["properties"]
    state = raw_schema(Subtopic.STATE, "2.0.0")["properties"]
    assert "theta" in state["nodeStates"]["items"]["properties"]["nodePosition"]["required"]
    assert "PAUSED" not in state["actionStates"]["items"]["properties"]["actionStatus"]["enum"]
    edge = raw_schema(Subtopic.ORDER, "2.0.0")["properties"]["edges"]["items"]["properties"]
    assert "orientationType" not in edge


# ---- the models' fields are the schemas' fields --------------------------------------

# (model, path of its object schema) for the objects we model
_OBJECTS: list[tuple[type[msgspec.Struct], Subtopic, tuple[str, ...]]] = [
    (Order, Subtopic.ORDER, ()),
    (Node, Subtopic.ORDER, ("properties", "nodes", "items")),
    (NodePosition, Subtopic.ORDER, ("properties", "nodes", "items", "properties", "nodePosition")),
    (Edge, Subtopic.ORDER, ("properties", "edges", "items")),
    (Action, Subtopic.ORDER, ("definitions", "action")),
    (InstantActions, Subtopic.INSTANT_ACTIONS, ()),
    (State, Subtopic.STATE, ()),
    (NodeState, Subtopic.STATE, ("properties", "nodeStates", "items")),
    (EdgeState, Subtopic.STATE, ("properties", "edgeStates", "items")),
    (ActionState, Subtopic.STATE, ("properties", "actionStates", "items")),
    (BatteryState, Subtopic.STATE, ("properties", "batteryState")),
    (Error, Subtopic.STATE, ("properties", "errors", "items")),
    (SafetyState, Subtopic.STATE, ("properties", "safetyState")),
    (AgvPosition, Subtopic.STATE, ("properties", "agvPosition")),
    (Visualization, Subtopic.VISUALIZATION, ()),
    (Factsheet, Subtopic.FACTSHEET, ()),
]
# In the 2.1 text but not in the 2.1.0 schema.
_TEXT_ONLY = {"angularSpeedMin", "angularSpeedMax"}


@pytest.mark.parametrize(
    ("model", "subtopic", "path"), _OBJECTS, ids=lambda v: getattr(v, "__name__", None)
)
def test_model_fields_match_the_schema(
    model: type[msgspec.Struct], subtopic: Subtopic, path: tuple[str, ...]
) -> None:
    schema: Any = raw_schema(subtopic)
    for key in path:
        schema = schema[key]
    fields = msgspec.structs.fields(model)
    names = {f.encode_name for f in fields}
    assert names == set(schema["properties"]) - _TEXT_ONLY - _UNMODELLED.get(model, set())
    assert {f.encode_name for f in fields if f.required} == set(schema.get("required", []))


_UNMODELLED: dict[type[msgspec.Struct], set[str]] = {
    Factsheet: {"vehicleConfig"},  # decoded and ignored (docs/vda5050.md)
}


def test_every_message_type_has_a_schema() -> None:
    assert set(MESSAGE_TYPES) == set(Subtopic)
    for sub in Subtopic:
        assert raw_schema(sub)["subtopic"] == f"/{sub.value}"


def test_optional_fields_default_to_none_so_they_are_omitted_not_null() -> None:
    """The schemas refuse null: an optional field must be absent, never null or defaulted."""
    import protocol.vda5050 as vda

    structs = [
        v for v in vars(vda).values() if isinstance(v, type) and issubclass(v, msgspec.Struct)
    ]
    assert len(structs) > 30
    for struct in structs:
        for f in msgspec.structs.fields(struct):
            assert f.required or f.default is None, (
                f"{struct.__name__}.{f.name} defaults to {f.default!r}"
            )
