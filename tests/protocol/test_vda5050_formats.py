"""Every ``format`` the official schemas declare is checked by the decoder, at every place.

The schemas' only format today is ``date-time`` (RFC 3339), on each header's
``timestamp``. The test walks every schema copy in the repository, so a schema
that gains a format (or a new place for one) fails here until the codec checks it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.errors import RemoteProtocolError
from protocol.vda5050 import (
    AgvId,
    AgvPosition,
    BatteryState,
    ConnectionState,
    EStop,
    HeaderCounter,
    OperatingMode,
    RouteNode,
    SafetyState,
    State,
    Subtopic,
    Visualization,
    build_order,
    connection_message,
    decode,
    encode,
    instant_actions,
    start_pause,
)
from protocol.vda5050.formats import FORMATS, is_date_time
from protocol.vocabulary import ErrorCode
from tests.protocol.vda5050_support import SCHEMA_SETS, date_time_checked, serving_factsheet

AGV = AgvId("Acme", "SR-001")
NOW = 1_700_000_000.5


def sample(sub: Subtopic, version: str) -> dict[str, Any]:
    """A valid ``version`` document of ``sub`` with every field a schema puts a format on."""
    h = HeaderCounter().header(AGV, sub, NOW, version=version)
    msg: Any
    if sub is Subtopic.ORDER:
        msg = build_order(h, "o-1", [RouteNode("a", 0, 0), RouteNode("b", 1, 0)], map_id="m")
    elif sub is Subtopic.INSTANT_ACTIONS:
        msg = instant_actions(h, [start_pause("p-1")])
    elif sub is Subtopic.STATE:
        msg = State(
            **h.fields(),
            order_id="",
            order_update_id=0,
            last_node_id="",
            last_node_sequence_id=0,
            node_states=(),
            edge_states=(),
            driving=False,
            action_states=(),
            battery_state=BatteryState(battery_charge=50.0, charging=False),
            operating_mode=OperatingMode.AUTOMATIC,
            errors=(),
            safety_state=SafetyState(e_stop=EStop.NONE, field_violation=False),
            agv_position=AgvPosition(x=1, y=2, theta=0, map_id="m", position_initialized=True),
        )
    elif sub is Subtopic.CONNECTION:
        msg = connection_message(h, ConnectionState.ONLINE)
    elif sub is Subtopic.VISUALIZATION:
        msg = Visualization(**h.fields())
    else:
        msg = serving_factsheet(h)
    doc: dict[str, Any] = json.loads(encode(msg))
    return doc


def formats_in(
    schema: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(instance path, format) for every ``format`` keyword on a string property."""
    if not isinstance(schema, dict):
        return
    if isinstance(schema.get("format"), str) and schema.get("type") == "string":
        yield path, schema["format"]
    for name, sub in (schema.get("properties") or {}).items():
        yield from formats_in(sub, (*path, name))
    if "items" in schema:
        yield from formats_in(schema["items"], (*path, 0))


def declared() -> list[tuple[str, Subtopic, tuple[str | int, ...], str]]:
    out = []
    for version, schemas in SCHEMA_SETS.items():
        for sub, schema in schemas().items():
            out += [(version, sub, path, fmt) for path, fmt in formats_in(schema)]
    return out


def test_the_schemas_declare_formats_and_we_check_every_one() -> None:
    found = declared()
    assert {(v, s) for v, s, _, _ in found} >= {(v, Subtopic.STATE) for v in SCHEMA_SETS}
    assert {fmt for *_, fmt in found} <= set(FORMATS)


BAD_TIMES = [
    "15.01.2025 12:00",
    "not a time at all",
    "",
    "2025-01-15",
    "2025-01-15T12:00Z",
    "2025-13-01T00:00:00Z",
    "2025-02-30T00:00:00Z",
    "2025-01-15T24:00:00Z",
    "2025-01-15T12:00:00",
    "2025-01-15T12:00:00+0100",
    "2025-01-15 12:00:00Z",
    "\uff12\uff10\uff12\uff15-01-15T12:00:00Z",
    "2025-01-15T12:00:00.Z",
    "2016-12-31T23:59:60Z",
    "2025-01-15T12:00:00Z\n",
    "0000-01-01T00:00:00Z",
]
GOOD_TIMES = [
    "2025-01-15T12:00:00Z",
    "2025-01-15T12:00:00.12Z",
    "2025-01-15t12:00:00.123456z",
    "2025-01-15T12:00:00+09:00",
    "2024-02-29T23:59:59.5-23:59",
]


def _set(doc: Any, path: tuple[str | int, ...], value: object) -> None:
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value


@pytest.mark.parametrize(
    ("version", "sub", "path", "fmt"),
    declared(),
    ids=lambda v: "/".join(map(str, v)) if isinstance(v, tuple) else str(v),
)
def test_each_declared_format_is_enforced_where_it_is_declared(
    version: str, sub: Subtopic, path: tuple[str | int, ...], fmt: str
) -> None:
    assert fmt == "date-time"
    for good in GOOD_TIMES:
        doc = sample(sub, version)
        _set(doc, path, good)
        decode(sub, json.dumps(doc).encode())
    for bad in BAD_TIMES:
        doc = sample(sub, version)
        _set(doc, path, bad)
        with pytest.raises(RemoteProtocolError) as err:
            decode(sub, json.dumps(doc).encode())
        assert err.value.code is ErrorCode.BAD_MESSAGE
        assert f"{path[-1]} {bad!r} is not an RFC 3339 date-time" in err.value.message


@given(
    st.text(max_size=40)
    | st.datetimes().map(lambda d: d.isoformat())
    | st.sampled_from(BAD_TIMES + GOOD_TIMES)
)
def test_date_time_agrees_with_the_schema_checker(text: str) -> None:
    """Ours against jsonschema's checker, which every schema validation here uses. (It takes a
    trailing newline, as Python's ``$`` does; a timestamp with one is refused here.)"""
    assert is_date_time(text) == (date_time_checked(text) and not text.endswith("\n"))
