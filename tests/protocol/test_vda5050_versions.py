"""VDA 5050 in each version we speak: 2.1 (the models), 2.0 and 1.1 (dialects of differences).

Whatever we build, encoded for 2.0, validates against the official 2.0.0 schemas
(fixed for their quirks and made strict, and for what master control sends also
as published); decoding it back as 2.0 gives the message again. What the 2.0
schemas refuse that 2.1 allows is refused on the way in. The models' fields
are compared with the 2.0.0 schemas, so every difference is one the table in
``DIFFERENCES`` (and docs/vda5050.md) names. 1.1 has no official schemas; the
third-party tests (tests/thirdparty) check it against vda-5050-lib's validators.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.vda5050 import (
    DIALECTS,
    Action,
    ActionParameter,
    ActionState,
    AgvId,
    AgvPosition,
    BatteryState,
    BlockingType,
    ConnectionState,
    Corridor,
    Edge,
    EdgeState,
    Error,
    EStop,
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
    VdaTopic,
    Visualization,
    build_order,
    build_order_update,
    connection_message,
    decode,
    decode_for_topic,
    dialect_for,
    encode,
    estop_plan,
    header_version,
    instant_actions,
    line_of,
    publication,
    release_plan,
    start_pause,
)
from protocol.vocabulary import ErrorCode
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
NOW = 1_700_000_000.25


def _header(sub: Subtopic, version: str, counter: HeaderCounter | None = None) -> Any:
    return (counter or HeaderCounter()).header(AGV, sub, NOW, version=version)


def _as(msg: Any, version: str) -> Any:
    return msgspec.structs.replace(msg, version=version)


def _wire(msg: Any) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(encode(msg))
    return doc


def _object_parameters(msg: Any) -> bool:
    """Whether ``msg`` has an action parameter whose value is an object (2.1 only)."""
    doc = json.loads(encode(_as(msg, "2.1.0")))
    actions = [
        *doc.get("actions", ()),
        *(a for part in ("nodes", "edges") for e in doc.get(part, ()) for a in e["actions"]),
    ]
    return any(isinstance(p["value"], dict) for a in actions for p in a.get("actionParameters", ()))


# ---- which dialect -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "line"),
    [
        ("2.1.0", "2.1"),
        ("2.1.7", "2.1"),
        ("2.0.0", "2.0"),
        ("2.0.1", "2.0"),
        ("1.1.0", "1.1"),
        ("3.0.0", None),
        ("1.0.0", None),
        ("2.2.0", None),
    ],
)
def test_a_version_names_its_line(version: str, line: str | None) -> None:
    d = dialect_for(version)
    assert (d.line if d else None) == line
    assert line_of(version) == version.rsplit(".", 1)[0]


@pytest.mark.parametrize("text", ["2", "2.0", "v2.0.0", "2.0.0-rc1", "02.0.0", "", " 2.0.0"])
def test_a_version_string_must_be_major_minor_patch(text: str) -> None:
    assert line_of(text) is None and dialect_for(text) is None


def test_we_speak_three_lines_on_two_topic_levels() -> None:
    assert {line: d.major for line, d in DIALECTS.items()} == {
        "1.1": "v1",
        "2.0": "v2",
        "2.1": "v2",
    }
    assert Subtopic.FACTSHEET not in DIALECTS["1.1"].subtopics  # 1.1 has no factsheet


# ---- 2.0: what we send -----------------------------------------------------------------------


@given(routes, st.data())
def test_orders_and_updates_for_2_0_are_valid_2_0_and_read_back(
    route: list[Any], data: st.DataObject
) -> None:
    counter = HeaderCounter()
    order = build_order(
        _header(Subtopic.ORDER, "2.0.0", counter),
        "o-1",
        route,
        map_id="m",
        released=data.draw(st.integers(1, len(route))),
    )
    extension = data.draw(routes)
    update = build_order_update(
        _header(Subtopic.ORDER, "2.0.0", counter),
        order,
        extension,
        released=data.draw(st.integers(0, len(extension))),
    )
    for msg in (order, update):
        if _object_parameters(msg):
            with pytest.raises(LocalProtocolError, match=r"which VDA 5050 2\.0 cannot carry"):
                encode(msg)
            continue
        assert_schema_valid(Subtopic.ORDER, msg, "2.0.0")
        assert decode(Subtopic.ORDER, encode(msg)) == msg


def test_a_2_0_node_carries_both_spellings_of_its_deviation() -> None:
    route = [RouteNode("a", 0, 0, allowed_deviation_xy=0.3), RouteNode("b", 1, 0)]
    doc = _wire(build_order(_header(Subtopic.ORDER, "2.0.0"), "o-1", route, map_id="m"))
    position = doc["nodes"][0]["nodePosition"]
    assert (position["allowedDeviationXY"], position["allowedDeviationXy"]) == (0.3, 0.3)
    assert doc["version"] == "2.0.0"
    del position["allowedDeviationXY"]  # what an AGV built from the 2.0.0 schema reads
    got = decode(Subtopic.ORDER, json.dumps(doc).encode())
    assert isinstance(got, Order) and got.nodes[0].node_position is not None
    assert got.nodes[0].node_position.allowed_deviation_xy == 0.3


@given(instant_actions_messages())
def test_instant_actions_for_2_0_name_their_type_both_ways(msg: InstantActions) -> None:
    msg = _as(msg, "2.0.0")
    if _object_parameters(msg):
        with pytest.raises(LocalProtocolError, match=r"which VDA 5050 2\.0 cannot carry"):
            encode(msg)
        return
    assert_schema_valid(Subtopic.INSTANT_ACTIONS, msg, "2.0.0")
    doc = _wire(msg)
    assert all(a["actionName"] == a["actionType"] for a in doc["actions"])
    assert doc["instantActions"] == doc["actions"]  # as vda-5050-lib reads 2.0
    assert decode(Subtopic.INSTANT_ACTIONS, encode(msg)) == msg
    del doc["instantActions"]
    for a in doc["actions"]:
        del a["actionType"]  # a master built from the 2.0.0 schema sends only actionName
    assert decode(Subtopic.INSTANT_ACTIONS, json.dumps(doc).encode()) == msg
    doc["instantActions"] = doc.pop("actions")  # what vda-5050-lib's master sends
    assert decode(Subtopic.INSTANT_ACTIONS, json.dumps(doc).encode()) == msg


def test_our_instant_action_plans_are_valid_in_every_version() -> None:
    sheet = serving_factsheet(_header(Subtopic.FACTSHEET, "2.1.0"))
    for version in ("2.1.0", "2.0.0"):
        for group in (*estop_plan("e1", sheet, "spill"), *release_plan("e1", sheet)):
            assert_schema_valid(
                Subtopic.INSTANT_ACTIONS,
                instant_actions(_header(Subtopic.INSTANT_ACTIONS, version), group),
                version,
            )


def _edge(**fields: Any) -> Edge:
    return Edge(
        edge_id="a--b",
        sequence_id=1,
        released=True,
        start_node_id="a",
        end_node_id="b",
        actions=(),
        **fields,
    )


def _two_nodes(edge: Edge, version: str) -> Order:
    nodes = tuple(
        Node(
            node_id=n,
            sequence_id=2 * i,
            released=True,
            actions=(),
            node_position=NodePosition(x=float(i), y=0.0, map_id="m"),
        )
        for i, n in enumerate("ab")
    )
    return Order(
        **_header(Subtopic.ORDER, version).fields(),
        order_id="o",
        order_update_id=0,
        nodes=nodes,
        edges=(edge,),
    )


@pytest.mark.parametrize(
    ("edge", "v20", "v11"),
    [
        (_edge(corridor=Corridor(left_width=0.5, right_width=0.5)), {}, {}),
        (_edge(orientation=1.0), {"orientation": 1.0}, LocalProtocolError),
        (
            _edge(orientation=1.0, orientation_type="TANGENTIAL"),
            {"orientation": 1.0},
            LocalProtocolError,
        ),
        (
            _edge(orientation=1.0, orientation_type="GLOBAL"),
            {"orientation": 1.0, "orientationType": "GLOBAL"},
            {"orientation": 1.0},
        ),
        (_edge(orientation_type="GLOBAL"), {"orientationType": "GLOBAL"}, {}),
    ],
)
def test_2_1_edge_fields_are_mapped_down_or_refused(edge: Edge, v20: Any, v11: Any) -> None:
    """A corridor is not sent (the AGV keeps to the edge, the stricter path); orientationType
    TANGENTIAL is 2.0's default; 1.1 knows only a global orientation."""
    base = {"edgeId", "sequenceId", "released", "startNodeId", "endNodeId", "actions"}
    for version, want in (("2.0.0", v20), ("1.1.0", v11)):
        order = _two_nodes(edge, version)
        if want is LocalProtocolError:
            with pytest.raises(LocalProtocolError, match="orientation cannot be said"):
                encode(order)
            continue
        (got,) = _wire(order)["edges"]
        assert {k: v for k, v in got.items() if k not in base} == want
        if version == "2.0.0":
            assert_schema_valid(Subtopic.ORDER, order, version)


@pytest.mark.parametrize("version", ["2.0.0", "1.1.0"])
def test_an_object_parameter_cannot_be_said_before_2_1(version: str) -> None:
    action = Action(
        action_type="x",
        action_id="a1",
        blocking_type=BlockingType.NONE,
        action_parameters=(ActionParameter(key="k", value={"a": 1}),),
    )
    msg = instant_actions(_header(Subtopic.INSTANT_ACTIONS, version), [action])
    with pytest.raises(LocalProtocolError, match="'k' is an object"):
        encode(msg)
    assert encode(_as(msg, "2.1.0"))


# ---- 2.0: what we receive ------------------------------------------------------------------


@given(states())
def test_states_in_2_0_are_valid_2_0_and_read_back(msg: State) -> None:
    msg = _as(msg, "2.0.0")
    assert_schema_valid(Subtopic.STATE, msg, "2.0.0")
    got = decode(Subtopic.STATE, encode(msg))
    b = msg.battery_state
    want = msgspec.structs.replace(
        msg,
        maps=None,
        errors=tuple(msgspec.structs.replace(e, error_hint=None) for e in msg.errors),
        battery_state=msgspec.structs.replace(
            b,
            battery_health=None if b.battery_health is None else round(b.battery_health),
            reach=None if b.reach is None else round(b.reach),
        ),
    )
    assert got == want


@pytest.mark.parametrize("field", ["batteryHealth", "reach"])
def test_a_2_0_state_with_a_fraction_where_2_0_says_integer_is_refused(field: str) -> None:
    doc = _wire(_state("2.0.0"))
    doc["batteryState"][field] = 55.5
    with pytest.raises(RemoteProtocolError) as err:
        decode(Subtopic.STATE, json.dumps(doc).encode())
    assert err.value.code is ErrorCode.BAD_MESSAGE
    assert f"Expected `int` (VDA 5050 2.0), got `float` - at `$.batteryState.{field}`" in (
        err.value.message
    )
    doc["batteryState"][field] = 55
    assert isinstance(decode(Subtopic.STATE, json.dumps(doc).encode()), State)
    doc["version"] = "2.1.0"
    doc["batteryState"][field] = 55.5
    assert isinstance(decode(Subtopic.STATE, json.dumps(doc).encode()), State)  # 2.1: number


def test_a_2_0_state_without_theta_in_a_node_position_is_read() -> None:
    """The 2.0.0 state schema requires it; the text (the order's nodePosition) does not."""
    st_ = _state(
        "2.0.0",
        node_states=(
            NodeState(
                node_id="a",
                sequence_id=0,
                released=True,
                node_position=NodePosition(x=1, y=2, map_id="m"),
            ),
        ),
    )
    doc = _wire(st_)
    assert "theta" not in doc["nodeStates"][0]["nodePosition"]
    assert schema_errors(Subtopic.STATE, doc, version="2.0.0", raw=True, strict=False)
    assert decode(Subtopic.STATE, json.dumps(doc).encode()) == st_


def _state(version: str, **fields: Any) -> State:
    base: dict[str, Any] = {
        "order_id": "",
        "order_update_id": 0,
        "last_node_id": "",
        "last_node_sequence_id": 0,
        "node_states": (),
        "edge_states": (),
        "driving": False,
        "action_states": (),
        "battery_state": BatteryState(battery_charge=50.0, charging=False),
        "operating_mode": "AUTOMATIC",
        "errors": (),
        "safety_state": SafetyState(e_stop=EStop.NONE, field_violation=False),
        "agv_position": AgvPosition(x=1, y=2, theta=0, map_id="m", position_initialized=True),
    }
    base.update(fields)
    return State(**_header(Subtopic.STATE, version).fields(), **base)


@given(connections(), visualizations)
def test_connection_and_visualization_are_the_same_in_2_0(conn: Any, vis: Visualization) -> None:
    for msg, sub in ((conn, Subtopic.CONNECTION), (vis, Subtopic.VISUALIZATION)):
        msg = _as(msg, "2.0.0")
        assert_schema_valid(sub, msg, "2.0.0")
        assert decode(sub, encode(msg), version="2.0.0") == msg


@pytest.mark.parametrize("vendor", [True, False])
def test_a_factsheet_in_2_0_is_valid_2_0(vendor: bool) -> None:
    sheet = serving_factsheet(_header(Subtopic.FACTSHEET, "2.0.0"), vendor_estop=vendor)
    assert_schema_valid(Subtopic.FACTSHEET, sheet, "2.0.0")
    assert "blockingTypes" not in str(_wire(sheet))
    got = decode(Subtopic.FACTSHEET, encode(sheet))
    assert isinstance(got, Factsheet) and got.supports("startPause")


# ---- 1.1 -------------------------------------------------------------------------------------


def test_1_1_lives_under_v1_with_qos_0_and_its_own_names() -> None:
    conn = publication(
        connection_message(_header(Subtopic.CONNECTION, "1.1.0"), ConnectionState.ONLINE)
    )
    assert (conn.topic, conn.qos, conn.retain) == ("uagv/v1/Acme/SR-001/connection", 0, True)
    msg = instant_actions(_header(Subtopic.INSTANT_ACTIONS, "1.1.0"), [start_pause("p1")])
    pub = publication(msg)
    assert pub.topic == "uagv/v1/Acme/SR-001/instantActions"
    doc = json.loads(pub.payload)
    assert "actions" not in doc and doc["instantActions"][0]["actionType"] == "startPause"
    assert decode(Subtopic.INSTANT_ACTIONS, pub.payload) == msg
    with pytest.raises(LocalProtocolError, match=r"1\.1 has no factsheet topic"):
        publication(serving_factsheet(_header(Subtopic.FACTSHEET, "1.1.0")))


def test_a_1_1_state_says_informations() -> None:
    from protocol.vda5050 import Info, InfoLevel

    st_ = _state("1.1.0", information=(Info(info_type="x", info_level=InfoLevel.INFO),))
    doc = _wire(st_)
    assert "information" not in doc and doc["informations"][0]["infoType"] == "x"
    assert decode(Subtopic.STATE, json.dumps(doc).encode()) == st_
    doc["information"] = doc.pop("informations")  # as some 1.1 implementations write it
    assert decode(Subtopic.STATE, json.dumps(doc).encode()) == st_


def test_1_1_instant_actions_without_their_list_name_it() -> None:
    doc = _wire(instant_actions(_header(Subtopic.INSTANT_ACTIONS, "1.1.0"), [start_pause("p")]))
    doc["actions"] = doc.pop("instantActions")  # a 2.x body under a 1.1 header
    with pytest.raises(RemoteProtocolError, match="missing required field `instantActions`"):
        decode(Subtopic.INSTANT_ACTIONS, json.dumps(doc).encode())


@given(routes)
def test_orders_round_trip_in_1_1(route: list[Any]) -> None:
    order = build_order(_header(Subtopic.ORDER, "1.1.0"), "o-1", route, map_id="m", released=1)
    if _object_parameters(order):
        with pytest.raises(LocalProtocolError, match=r"which VDA 5050 1\.1 cannot carry"):
            encode(order)
    else:
        assert decode(Subtopic.ORDER, encode(order)) == order


# ---- versions on the way in --------------------------------------------------------------------


def test_the_header_names_the_version_and_the_topic_must_agree() -> None:
    payload = encode(_state("2.0.0"))
    assert header_version(payload) == "2.0.0"
    assert header_version(b'{"headerId": 1}') is None
    v2 = VdaTopic(AGV, Subtopic.STATE)
    assert decode_for_topic(v2, payload).version == "2.0.0"
    with pytest.raises(RemoteProtocolError, match=r"of version '2\.0\.0' on a v1 topic") as err:
        decode_for_topic(VdaTopic(AGV, Subtopic.STATE, major="v1"), payload)
    assert err.value.code is ErrorCode.BAD_MESSAGE
    pinned = r"has version '2\.0\.0', expected 2\.1\.x"
    with pytest.raises(RemoteProtocolError, match=pinned) as err:
        decode(Subtopic.STATE, payload, version="2.1.0")  # pinned to 2.1: not this
    assert err.value.code is ErrorCode.UNSUPPORTED_VERSION
    with pytest.raises(RemoteProtocolError, match=r"VDA 5050 1\.1 has no factsheet topic"):
        decode(
            Subtopic.FACTSHEET,
            encode(serving_factsheet(_header(Subtopic.FACTSHEET, "2.1.0"))).replace(
                b'"2.1.0"', b'"1.1.0"'
            ),
        )


def test_a_visualization_without_a_header_takes_the_agvs_version_or_the_topics_newest() -> None:
    payload = (
        b'{"agvPosition": {"x": 1, "y": 2, "theta": 0, "mapId": "m", "positionInitialized": true}}'
    )
    v1 = VdaTopic(AGV, Subtopic.VISUALIZATION, major="v1")
    newest = decode_for_topic(v1, payload)
    assert isinstance(newest, Visualization) and newest.agv_position is not None
    older = decode_for_topic(VdaTopic(AGV, Subtopic.VISUALIZATION), payload, version="2.0.0")
    assert isinstance(older, Visualization) and older.agv_position is not None


# ---- the models against the 2.0.0 schemas --------------------------------------------------

# Where the models (2.1) and the 2.0.0 schemas differ, object by object: what 2.1 added
# (dropped or refused on the way to a 2.0 AGV), and what the 2.0.0 schema spells otherwise.
DIFFERENCES: dict[str, dict[str, set[str]]] = {
    "Edge": {"2.1 only": {"corridor"}, "2.0 text only": {"orientationType"}},
    "NodePosition": {"2.1 only": {"allowedDeviationXY"}, "2.0 schema only": {"allowedDeviationXy"}},
    "State": {"2.1 only": {"maps"}},
    "Error": {"2.1 only": {"errorHint"}},
    "Factsheet": {"2.0 schema only": {"localizationParameters"}},
    "Action (instantActions)": {"2.1 only": {"actionType"}, "2.0 schema only": {"actionName"}},
}

_OBJECTS: list[tuple[str, type[msgspec.Struct], Subtopic, tuple[str, ...]]] = [
    ("Order", Order, Subtopic.ORDER, ()),
    ("Node", Node, Subtopic.ORDER, ("properties", "nodes", "items")),
    (
        "NodePosition",
        NodePosition,
        Subtopic.ORDER,
        ("properties", "nodes", "items", "properties", "nodePosition"),
    ),
    ("Edge", Edge, Subtopic.ORDER, ("properties", "edges", "items")),
    ("Action", Action, Subtopic.ORDER, ("definitions", "action")),
    (
        "Action (instantActions)",
        Action,
        Subtopic.INSTANT_ACTIONS,
        ("properties", "actions", "items"),
    ),
    ("InstantActions", InstantActions, Subtopic.INSTANT_ACTIONS, ()),
    ("State", State, Subtopic.STATE, ()),
    ("NodeState", NodeState, Subtopic.STATE, ("properties", "nodeStates", "items")),
    ("EdgeState", EdgeState, Subtopic.STATE, ("properties", "edgeStates", "items")),
    ("ActionState", ActionState, Subtopic.STATE, ("properties", "actionStates", "items")),
    ("BatteryState", BatteryState, Subtopic.STATE, ("properties", "batteryState")),
    ("Error", Error, Subtopic.STATE, ("properties", "errors", "items")),
    ("SafetyState", SafetyState, Subtopic.STATE, ("properties", "safetyState")),
    ("AgvPosition", AgvPosition, Subtopic.STATE, ("properties", "agvPosition")),
    ("Visualization", Visualization, Subtopic.VISUALIZATION, ()),
    ("Factsheet", Factsheet, Subtopic.FACTSHEET, ()),
]
# Not in the 2.1.0 schema either (tests/protocol/test_vda5050_schemas.py).
_NOT_IN_ANY_SCHEMA = {"angularSpeedMin", "angularSpeedMax"}
_UNMODELLED = {"Factsheet": {"vehicleConfig"}}


def _schema_20(sub: Subtopic, path: tuple[str, ...]) -> dict[str, Any]:
    schema: Any = raw_schema(sub, "2.0.0")
    if sub is Subtopic.FACTSHEET:  # its definitions sit at the top level (a quirk)
        return {
            "properties": {k: v for k, v in schema.items() if isinstance(v, dict)},
            "required": schema["required"],
        }
    for key in path:
        schema = schema[key]
    found: dict[str, Any] = schema
    return found


@pytest.mark.parametrize(("name", "model", "sub", "path"), _OBJECTS, ids=[o[0] for o in _OBJECTS])
def test_the_models_differ_from_the_2_0_schemas_only_as_the_table_says(
    name: str, model: type[msgspec.Struct], sub: Subtopic, path: tuple[str, ...]
) -> None:
    schema = _schema_20(sub, path)
    ours = {f.encode_name for f in msgspec.structs.fields(model)} - _NOT_IN_ANY_SCHEMA
    theirs = set(schema["properties"]) - _UNMODELLED.get(name, set())
    table = DIFFERENCES.get(name, {})
    assert ours - theirs == table.get("2.1 only", set()) | table.get("2.0 text only", set())
    assert theirs - ours == table.get("2.0 schema only", set())
