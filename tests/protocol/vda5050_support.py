"""Helpers for the VDA 5050 tests: the official schemas per version (fixed, strict) and strategies.

The schemas are the official ones, copied unchanged into tests/protocol/vda5050
(MIT, LICENSE.txt and README.md there) so that a clone tests on its own:
``schemas/`` is 2.1.0, ``schemas-2.0.0/`` is 2.0.0; ROBODINE_VDA5050_SCHEMAS names
another folder for 2.1.0. Because the standard's text wins over its schemas,
``validator`` fixes the quirks README.md lists:

- 2.1.0: ``state.actionStates[].actionStatus`` gains PAUSED;
  ``factsheet...agvActions[].blockingTypes`` moves its enum to the items;
- 2.0.0: the same PAUSED; the factsheet's top-level definitions move under
  ``properties``; an edge may say ``orientationType`` (in the 2.0 text);
  an instant action's ``actionType`` (the text) is required instead of
  ``actionName`` (which stays allowed), and the list may also be named
  ``instantActions`` (1.1's name, which vda-5050-lib kept); a state's nodePosition ``theta`` and
  controlPoint ``weight`` are optional; a nodePosition may say
  ``allowedDeviationXY`` (the text) beside the schema's ``allowedDeviationXy``;
- strict (the default): every object that lists properties gets
  ``additionalProperties: false``, so a misspelled optional field fails.

``date-time`` is checked by jsonschema's own checker (rfc3339-validator), an
implementation independent of ``protocol.vda5050.formats``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import string
import subprocess
import sys
from collections.abc import Callable, Mapping
from functools import cache, partial
from pathlib import Path
from typing import Any, Final

import jsonschema
from hypothesis import strategies as st

from protocol.mqtt_topics import Publication
from protocol.vda5050 import (
    Action,
    ActionParameter,
    ActionScope,
    ActionState,
    ActionStatus,
    AgvAction,
    AgvGeometry,
    AgvPosition,
    BatteryState,
    BlockingType,
    Connection,
    ConnectionState,
    EdgeState,
    Error,
    ErrorLevel,
    ErrorReference,
    EStop,
    Factsheet,
    Header,
    Info,
    InfoLevel,
    InstantActions,
    LoadSpecification,
    MaxArrayLens,
    MaxStringLens,
    NodePosition,
    NodeState,
    OperatingMode,
    PhysicalParameters,
    ProtocolFeatures,
    ProtocolLimits,
    RouteNode,
    SafetyState,
    State,
    Subtopic,
    Timing,
    TypeSpecification,
    Velocity,
    Visualization,
    encode,
    format_timestamp,
)

_HERE = Path(__file__).resolve().parent / "vda5050"
SCHEMA_DIRS: Final[Mapping[str, Path]] = {
    "2.1.0": Path(os.environ.get("ROBODINE_VDA5050_SCHEMAS", _HERE / "schemas")),
    "2.0.0": _HERE / "schemas-2.0.0",
}
V21: Final = "2.1.0"

_formats = jsonschema.FormatChecker()
assert "date-time" in _formats.checkers, "rfc3339-validator is missing (pip install -e .[test])"


def date_time_checked(value: str) -> bool:
    """jsonschema's verdict on ``value`` as a ``date-time``."""
    return bool(_formats.conforms(value, "date-time"))


def _strict(node: Any) -> None:
    if isinstance(node, dict):
        if "properties" in node:
            node.setdefault("additionalProperties", False)
        for value in node.values():
            _strict(value)
    elif isinstance(node, list):
        for value in node:
            _strict(value)


def _fix_21(name: str, schema: dict[str, Any]) -> None:
    if name == "state":
        status = schema["properties"]["actionStates"]["items"]["properties"]["actionStatus"]
        status["enum"].append("PAUSED")
    if name == "factsheet":
        action = schema["properties"]["protocolFeatures"]["properties"]["agvActions"]["items"]
        blocking = action["properties"]["blockingTypes"]
        blocking["items"] = {"type": "string", "enum": blocking.pop("enum")}


_KEYWORDS: Final = frozenset(
    {
        "$schema",
        "title",
        "description",
        "required",
        "subtopic",
        "type",
        "properties",
        "additionalProperties",
        "examples",
    }
)


def _fix_20(name: str, schema: dict[str, Any]) -> None:
    if name == "factsheet":
        schema["properties"] = {k: schema.pop(k) for k in list(schema) if k not in _KEYWORDS}
        lens = schema["properties"]["protocolLimits"]["properties"]["maxArrayLens"]
        lens["properties"] = {k: lens.pop(k) for k in list(lens) if k not in _KEYWORDS}
        nav = schema["properties"]["typeSpecification"]["properties"]["navigationTypes"]["items"]
        nav["enum"] = [
            "PHYSICAL_LINE_GUIDED" if v == "PHYSICAL_LINDE_GUIDED" else v for v in nav["enum"]
        ]
    if name == "instantActions":
        # The 1.1 name of the list, which vda-5050-lib still uses in 2.0: we send both.
        schema["properties"]["instantActions"] = schema["properties"]["actions"]
        action = schema["properties"]["actions"]["items"]
        action["properties"]["actionType"] = {"type": "string"}
        action["required"] = ["actionType" if r == "actionName" else r for r in action["required"]]
    if name == "state":
        props = schema["properties"]
        props["actionStates"]["items"]["properties"]["actionStatus"]["enum"].append("PAUSED")
        position = props["nodeStates"]["items"]["properties"]["nodePosition"]
        position["required"].remove("theta")
        point = props["edgeStates"]["items"]["properties"]["trajectory"]["properties"][
            "controlPoints"
        ]["items"]
        point["required"].remove("weight")
    if name == "order":
        position = schema["properties"]["nodes"]["items"]["properties"]["nodePosition"]
        position["properties"]["allowedDeviationXY"] = position["properties"]["allowedDeviationXy"]
        edge = schema["properties"]["edges"]["items"]["properties"]
        edge["orientationType"] = {"type": "string", "enum": ["GLOBAL", "TANGENTIAL"]}


_FIXES: Final[Mapping[str, Callable[[str, dict[str, Any]], None]]] = {
    "2.1.0": _fix_21,
    "2.0.0": _fix_20,
}


@cache
def raw_schema(subtopic: Subtopic, version: str = V21) -> dict[str, Any]:
    folder = SCHEMA_DIRS[version]
    path = folder / f"{subtopic.value}.schema"
    if not path.exists():
        path = folder / f"{subtopic.value}.json"  # 2.0.0's factsheet
    if not path.exists():
        raise FileNotFoundError(
            f"VDA 5050 {version} schema {path} not found (tests/protocol/vda5050/README.md)"
        )
    doc: dict[str, Any] = json.loads(path.read_text())
    return doc


@cache
def fixed_schema(subtopic: Subtopic, version: str = V21) -> dict[str, Any]:
    schema = copy.deepcopy(raw_schema(subtopic, version))
    _FIXES[version](subtopic.value, schema)
    return schema


def schemas_of(version: str) -> dict[Subtopic, dict[str, Any]]:
    """Every subtopic's schema of ``version``, quirks fixed, not strict."""
    return {sub: fixed_schema(sub, version) for sub in Subtopic}


SCHEMA_SETS: Final[Mapping[str, Callable[[], dict[Subtopic, dict[str, Any]]]]] = {
    v: partial(schemas_of, v) for v in SCHEMA_DIRS
}


@cache
def validator(
    subtopic: Subtopic, *, strict: bool = True, version: str = V21, raw: bool = False
) -> jsonschema.Draft202012Validator:
    schema = copy.deepcopy(
        raw_schema(subtopic, version) if raw else fixed_schema(subtopic, version)
    )
    if strict:
        _strict(schema)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=_formats)


def schema_errors(
    subtopic: Subtopic, document: Any, *, strict: bool = True, version: str = V21, raw: bool = False
) -> list[str]:
    errors = validator(subtopic, strict=strict, version=version, raw=raw).iter_errors(document)
    return [f"{'/'.join(map(str, e.absolute_path)) or '$'}: {e.message}" for e in errors]


def wire_errors(subtopic: Subtopic, document: Any, version: str = V21) -> list[str]:
    """What a message on the wire breaks: the fixed strict schema, and for what we send to
    an AGV also the official copy as it is (an AGV may validate with that one)."""
    errors = schema_errors(subtopic, document, version=version)
    if version != V21 and subtopic in (Subtopic.ORDER, Subtopic.INSTANT_ACTIONS):
        errors += [
            f"(official {version} schema) {e}"
            for e in schema_errors(subtopic, document, strict=False, version=version, raw=True)
        ]
    return errors


def assert_schema_valid(subtopic: Subtopic, msg: Any, version: str = V21) -> None:
    """Validate what goes on the wire: the encoded bytes, parsed back as plain JSON."""
    doc = json.loads(msg if isinstance(msg, bytes) else encode(msg))
    errors = wire_errors(subtopic, doc, version)
    assert not errors, f"{subtopic.value} breaks the {version} schema:\n" + "\n".join(errors)


# ---- hypothesis strategies --------------------------------------------------------

ids = st.text(string.ascii_letters + string.digits + "_-.:", min_size=1, max_size=12)
texts = st.text(st.characters(codec="utf-8"), max_size=16)
finite = st.floats(allow_nan=False, allow_infinity=False)
coords = st.floats(-1e4, 1e4, allow_nan=False)
angles = st.floats(-math.pi, math.pi)
unit = st.floats(0, 1)
percent = st.floats(0, 100)
non_negative = st.floats(0, 1e6)
uint32 = st.integers(0, 2**32 - 1)
timestamps = st.floats(0, 4e9).map(format_timestamp)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.none() | strategy


def headers(manufacturer: str = "Acme", serial: str = "SR-001") -> st.SearchStrategy[Header]:
    return st.builds(
        Header,
        header_id=uint32,
        timestamp=timestamps,
        manufacturer=st.just(manufacturer),
        serial_number=st.just(serial),
    )


_json_leaf = st.booleans() | st.integers(-(2**53), 2**53) | finite | texts
param_values = (
    _json_leaf | st.lists(_json_leaf, max_size=3) | st.dictionaries(ids, _json_leaf, max_size=3)
)

actions = st.builds(
    Action,
    action_type=ids,
    action_id=ids,
    blocking_type=st.sampled_from(BlockingType),
    action_description=optional(texts),
    action_parameters=optional(
        st.lists(st.builds(ActionParameter, key=ids, value=param_values), max_size=2).map(tuple)
    ),
)

route_nodes = st.builds(
    RouteNode,
    node_id=ids,
    x=coords,
    y=coords,
    theta=optional(angles),
    allowed_deviation_xy=optional(st.floats(0, 10)),
    actions=st.lists(actions, max_size=2).map(tuple),
)
routes = st.lists(route_nodes, min_size=1, max_size=8)


def instant_actions_messages() -> st.SearchStrategy[InstantActions]:
    return st.builds(
        lambda h, a: InstantActions(**h.fields(), actions=tuple(a)),
        headers(),
        st.lists(actions, min_size=1, max_size=4),
    )


def _tuple_of(strategy: st.SearchStrategy[Any], n: int = 3) -> st.SearchStrategy[tuple[Any, ...]]:
    return st.lists(strategy, max_size=n).map(tuple)


state_positions = st.builds(NodePosition, x=coords, y=coords, map_id=ids, theta=optional(angles))
agv_positions = st.builds(
    AgvPosition,
    x=coords,
    y=coords,
    theta=angles,
    map_id=ids,
    position_initialized=st.booleans(),
    localization_score=optional(unit),
    deviation_range=optional(non_negative),
)
velocities = st.builds(Velocity, vx=optional(finite), vy=optional(finite), omega=optional(finite))
references = st.builds(ErrorReference, reference_key=ids, reference_value=texts)
errors = st.builds(
    Error,
    error_type=ids,
    error_level=st.sampled_from(ErrorLevel),
    error_references=optional(_tuple_of(references, 2)),
    error_description=optional(texts),
    error_hint=optional(texts),
)


def states(**fixed: Any) -> st.SearchStrategy[State]:
    """Any valid State; ``fixed`` pins fields (as strategies) for targeted properties."""
    fields: dict[str, Any] = {
        "order_id": st.just("") | ids,
        "order_update_id": uint32,
        "last_node_id": st.just("") | ids,
        "last_node_sequence_id": uint32,
        "node_states": _tuple_of(
            st.builds(
                NodeState,
                node_id=ids,
                sequence_id=uint32,
                released=st.booleans(),
                node_position=optional(state_positions),
            )
        ),
        "edge_states": _tuple_of(
            st.builds(EdgeState, edge_id=ids, sequence_id=uint32, released=st.booleans())
        ),
        "driving": st.booleans(),
        "action_states": _tuple_of(
            st.builds(
                ActionState,
                action_id=ids,
                action_status=st.sampled_from(ActionStatus),
                action_type=optional(ids),
                result_description=optional(texts),
            )
        ),
        "battery_state": st.builds(
            BatteryState,
            battery_charge=percent,
            charging=st.booleans(),
            battery_voltage=optional(st.floats(0, 100)),
            battery_health=optional(percent),
            reach=optional(non_negative),
        ),
        "operating_mode": st.sampled_from(OperatingMode),
        "errors": _tuple_of(errors, 2),
        "safety_state": st.builds(
            SafetyState, e_stop=st.sampled_from(EStop), field_violation=st.booleans()
        ),
        "paused": optional(st.booleans()),
        "new_base_request": optional(st.booleans()),
        "agv_position": optional(agv_positions),
        "velocity": optional(velocities),
        "information": optional(
            _tuple_of(st.builds(Info, info_type=ids, info_level=st.sampled_from(InfoLevel)), 2)
        ),
    }
    fields.update(fixed)
    return st.builds(
        lambda h, kw: State(**h.fields(), **kw), headers(), st.fixed_dictionaries(fields)
    )


def connections() -> st.SearchStrategy[Connection]:
    return st.builds(
        lambda h, c: Connection(**h.fields(), connection_state=c),
        headers(),
        st.sampled_from(ConnectionState),
    )


visualizations = st.builds(
    Visualization,
    header_id=optional(uint32),
    timestamp=optional(timestamps),
    version=optional(st.just("2.1.0")),
    manufacturer=optional(st.just("Acme")),
    serial_number=optional(st.just("SR-001")),
    agv_position=optional(agv_positions),
    velocity=optional(velocities),
)


def serving_factsheet(header: Header, *, vendor_estop: bool = True) -> Factsheet:
    """A restaurant serving robot's factsheet, small but complete enough for the schema."""
    agv_actions = [
        AgvAction(action_type=t, action_scopes=(ActionScope.INSTANT,), blocking_types=(b,))
        for t, b in (
            ("startPause", BlockingType.HARD),
            ("stopPause", BlockingType.NONE),
            ("cancelOrder", BlockingType.HARD),
        )
    ]
    if vendor_estop:
        agv_actions += [
            AgvAction(action_type="robodineEStop", action_scopes=(ActionScope.INSTANT,)),
            AgvAction(action_type="robodineEStopRelease", action_scopes=(ActionScope.INSTANT,)),
        ]
    return Factsheet(
        **header.fields(),
        type_specification=TypeSpecification(
            series_name="ServeBot",
            agv_kinematic="DIFF",
            agv_class="CARRIER",
            max_load_mass=15.0,
            localization_types=("NATURAL",),
            navigation_types=("AUTONOMOUS",),
        ),
        physical_parameters=PhysicalParameters(
            speed_min=0.05,
            speed_max=1.2,
            acceleration_max=0.5,
            deceleration_max=1.0,
            height_max=1.3,
            width=0.5,
            length=0.55,
        ),
        protocol_limits=ProtocolLimits(
            max_string_lens=MaxStringLens(id_len=64, id_numerical_only=False),
            max_array_lens=MaxArrayLens(order_nodes=64, order_edges=63, instant_actions=8),
            timing=Timing(min_order_interval=0.5, min_state_interval=0.2),
        ),
        protocol_features=ProtocolFeatures(optional_parameters=(), agv_actions=tuple(agv_actions)),
        agv_geometry=AgvGeometry(),
        load_specification=LoadSpecification(load_positions=("tray1", "tray2")),
    )


# ---- a client that dies without DISCONNECT, for last-will tests ----------------------

_DYING_CLIENT = """
import sys
import paho.mqtt.client as mqtt

port, client_id, subscribe, topic, payload, qos, retain = sys.argv[1:]
client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
client.will_set(topic, payload.encode(), qos=int(qos), retain=retain == "1")
client.connect("127.0.0.1", int(port))
client.subscribe(subscribe)
while not client.is_connected():
    client.loop(0.1)
client.loop(0.2)
print("ready", flush=True)
while True:
    client.loop(1.0)
"""


def spawn_client_with_will(
    port: int, client_id: str, subscribe: str, will: Publication
) -> subprocess.Popen[bytes]:
    """A robot stand-in process (paho, as aiomqtt uses) with ``will`` armed, once it prints ready.

    SIGKILL it and the broker publishes the will: nothing says DISCONNECT.
    """
    argv = [str(port), client_id, subscribe, will.topic, will.payload.decode(), str(will.qos)]
    return subprocess.Popen(
        [sys.executable, "-c", _DYING_CLIENT, *argv, "1" if will.retain else "0"],
        stdout=subprocess.PIPE,
    )
