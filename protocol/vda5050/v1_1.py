"""VDA 5050 1.1 as it differs from 2.1: the transforms of its ``Dialect``.

1.1 has no official JSON schemas; this follows its text (release 1.1.0 of the
standard), checked in the tests against an independent 1.1 implementation.
What 2.0 lacks (``v2_0``: corridors, maps, errorHint, object parameters, both
spellings of ``allowedDeviationXY``, integer battery fields) 1.1 lacks too; besides:

- topics are ``uagv/v1/...``; there is no ``factsheet`` topic;
- every topic is QoS 0 (section 6.2), ``connection`` is still retained (6.14);
- an instantActions message carries ``instantActions``, not ``actions``;
- a state's info list is ``informations``, not ``information``;
- an edge's ``orientation`` is global (1.1 has no ``orientationType``): a
  tangential orientation cannot be said and is refused.
"""

from __future__ import annotations

from typing import Final

from protocol.errors import RemoteProtocolError
from protocol.mqtt_topics import Delivery
from protocol.vda5050.dialect import Dialect, Document
from protocol.vda5050.enums import Subtopic
from protocol.vda5050.v2_0 import (
    actions_in,
    actions_out,
    order_in,
    order_out,
    state_in,
    state_out,
)

__all__ = ["DIALECT"]

LINE: Final = "1.1"


def _rename(doc: Document, old: str, new: str) -> None:
    if old in doc and new not in doc:
        doc[new] = doc.pop(old)


def _instant_out(doc: Document) -> Document:
    actions_out(doc.get("actions") or [], LINE)
    _rename(doc, "actions", "instantActions")
    return doc


def _instant_in(doc: Document) -> Document:
    if "instantActions" not in doc:
        raise RemoteProtocolError("Object missing required field `instantActions`")
    doc["actions"] = doc.pop("instantActions")
    actions_in(doc["actions"])
    return doc


def _state_out(doc: Document) -> Document:
    state_out(doc)
    _rename(doc, "information", "informations")
    return doc


def _state_in(doc: Document) -> Document:
    _rename(doc, "informations", "information")
    return state_in(doc, LINE)


DIALECT: Final = Dialect(
    line=LINE,
    version="1.1.0",
    major="v1",
    delivery={
        Subtopic.ORDER: Delivery(0),
        Subtopic.INSTANT_ACTIONS: Delivery(0),
        Subtopic.STATE: Delivery(0),
        Subtopic.VISUALIZATION: Delivery(0),
        Subtopic.CONNECTION: Delivery(0, retain=True),
    },
    inbound={
        Subtopic.ORDER: order_in,
        Subtopic.INSTANT_ACTIONS: _instant_in,
        Subtopic.STATE: _state_in,
    },
    outbound={
        Subtopic.ORDER: order_out(LINE, orientation_type=False),
        Subtopic.INSTANT_ACTIONS: _instant_out,
        Subtopic.STATE: _state_out,
    },
)
