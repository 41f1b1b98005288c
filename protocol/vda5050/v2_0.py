"""VDA 5050 2.0 as it differs from 2.1: the transforms of its ``Dialect``.

From the 2.0.0 text and JSON schemas (docs/vda5050.md, *Versions*, is the table):

- 2.1-only fields are not sent: an edge's ``corridor``, a state's ``maps``, an
  error's ``errorHint``, a factsheet action's ``blockingTypes``. An action
  parameter whose value is an object (2.1) cannot be said and is refused.
- ``orientationType`` is in the 2.0 text (not its schema): TANGENTIAL, the
  default, is left out, GLOBAL is sent.
- The text names a node's deviation ``allowedDeviationXY``, the schema
  ``allowedDeviationXy``: we send both, and read either.
- The instantActions schema names an action's type ``actionName``, the text
  ``actionType``: we send both, and read either.
- vda-5050-lib (and the AGVs and master controls built on it) kept 1.1's name
  for the list of instant actions, ``instantActions``, where 2.0 says
  ``actions``: we send the list under both names, and read either.
- ``batteryHealth`` and ``reach`` are integers in 2.0: a fraction is refused on
  the way in and rounded on the way out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from protocol.errors import LocalProtocolError
from protocol.vda5050.dialect import ARRAY, Dialect, Document, Transform, check_integer
from protocol.vda5050.enums import Subtopic

__all__ = [
    "DIALECT",
    "actions_in",
    "actions_out",
    "battery_out",
    "edges_out",
    "order_in",
    "order_out",
    "positions_in",
    "positions_out",
    "state_in",
    "state_out",
]

LINE: Final = "2.0"


def _nodes(doc: Document, key: str = "nodes") -> Sequence[Any]:
    nodes = doc.get(key)
    return nodes if isinstance(nodes, ARRAY) else ()


def positions_out(doc: Document, key: str = "nodes") -> None:
    for node in _nodes(doc, key):
        p = node.get("nodePosition")
        if isinstance(p, dict) and "allowedDeviationXY" in p:
            p["allowedDeviationXy"] = p["allowedDeviationXY"]


def positions_in(doc: Document) -> None:
    for node in _nodes(doc):
        p = node.get("nodePosition") if isinstance(node, dict) else None
        if isinstance(p, dict) and "allowedDeviationXY" not in p and "allowedDeviationXy" in p:
            p["allowedDeviationXY"] = p.pop("allowedDeviationXy")


def actions_out(actions: Sequence[Any], line: str) -> None:
    for action in actions:
        for param in action.get("actionParameters") or ():
            if isinstance(param.get("value"), dict):
                raise LocalProtocolError(
                    f"action {action.get('actionId')!r}: parameter {param.get('key')!r} is an "
                    f"object, which VDA 5050 {line} cannot carry"
                )


def actions_in(actions: object) -> None:
    for action in actions if isinstance(actions, ARRAY) else ():
        if isinstance(action, dict) and "actionType" not in action and "actionName" in action:
            action["actionType"] = action["actionName"]


def edges_out(doc: Document, line: str, *, orientation_type: bool) -> None:
    """Drop what ``line`` lacks. ``orientation_type``: the line has the field (2.0); without it
    (1.1) an edge's orientation is global, so a tangential one cannot be said."""
    for node in _nodes(doc):
        actions_out(node.get("actions") or [], line)
    for edge in _nodes(doc, "edges"):
        edge.pop("corridor", None)
        kind = edge.pop("orientationType", "TANGENTIAL")  # 2.1's default
        if orientation_type:
            if kind != "TANGENTIAL":
                edge["orientationType"] = kind
        elif kind != "GLOBAL" and "orientation" in edge:
            raise LocalProtocolError(
                f"edge {edge.get('edgeId')!r}: a {kind} orientation cannot be said in VDA 5050 "
                f"{line}, where an edge's orientation is global"
            )
        actions_out(edge.get("actions") or [], line)


def battery_out(doc: Document) -> None:
    battery = doc.get("batteryState")
    if isinstance(battery, dict):
        for key in ("batteryHealth", "reach"):
            if isinstance(battery.get(key), float):
                battery[key] = round(battery[key])


def state_out(doc: Document) -> Document:
    doc.pop("maps", None)
    for error in doc.get("errors") or ():
        error.pop("errorHint", None)
    battery_out(doc)
    return doc


def state_in(doc: Document, line: str = LINE) -> Document:
    check_integer(doc, line, "batteryState", "batteryHealth")
    check_integer(doc, line, "batteryState", "reach")
    return doc


def order_out(line: str, *, orientation_type: bool) -> Transform:
    """An order to ``line`` (2.0 or 1.1): both deviation spellings, 2.1's edge fields mapped."""

    def transform(doc: Document) -> Document:
        positions_out(doc)
        edges_out(doc, line, orientation_type=orientation_type)
        return doc

    return transform


def order_in(doc: Document) -> Document:
    positions_in(doc)
    return doc


def _instant_out(doc: Document) -> Document:
    actions = doc.get("actions") or []
    actions_out(actions, LINE)
    for action in actions:
        action["actionName"] = action["actionType"]
    doc["instantActions"] = actions
    return doc


def _instant_in(doc: Document) -> Document:
    if "actions" not in doc and "instantActions" in doc:
        doc["actions"] = doc.pop("instantActions")
    actions_in(doc.get("actions"))
    return doc


def _factsheet_out(doc: Document) -> Document:
    features = doc.get("protocolFeatures") or {}
    for action in features.get("agvActions") or ():
        action.pop("blockingTypes", None)
    return doc


DIALECT: Final = Dialect(
    line=LINE,
    version="2.0.0",
    major="v2",
    inbound={
        Subtopic.ORDER: order_in,
        Subtopic.INSTANT_ACTIONS: _instant_in,
        Subtopic.STATE: state_in,
    },
    outbound={
        Subtopic.ORDER: order_out(LINE, orientation_type=True),
        Subtopic.INSTANT_ACTIONS: _instant_out,
        Subtopic.STATE: state_out,
        Subtopic.FACTSHEET: _factsheet_out,
    },
)
