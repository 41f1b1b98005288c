"""The dashboard's ko/en word lists, read from words.js."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args, get_type_hints

from gateway.fleet.states import ConnState
from protocol.streams import EventType, Level, OrderStatus
from protocol.vocabulary import CommandAction, CookingState, RobotKind, ServingState
from web.alarms.rules import OWN_TYPES, SEVERITY
from web.alarms.schemas import AlarmHistory, State
from web.orders.schemas import TaskAttempt

DASHBOARD = Path(__file__).resolve().parents[2] / "web" / "static" / "dashboard"


ENTRY = re.compile(
    r'^\s*"?([\w.]+)"?:\s*\[\s*"((?:[^"\\]|\\.)*)"\s*,\s*"((?:[^"\\]|\\.)*)"\s*\]', re.M | re.S
)


def strings() -> dict[str, tuple[str, str]]:
    """i18n.js's table and every module's `addStrings`, each key defined once."""
    out: dict[str, tuple[str, str]] = {}
    for path in sorted(DASHBOARD.glob("*.js")):
        text = path.read_text()
        if path.name != "i18n.js" and "addStrings(" not in text:
            continue
        for key, en, ko in ENTRY.findall(text):
            assert key not in out, f"{key} is in the table twice (again in {path.name})"
            out[key] = (en, ko)
    return out


def _values(tp: Any) -> set[str]:
    return {str(v) for v in get_args(tp)}


WORDS: dict[str, set[str]] = {
    "s": {str(s) for s in (*ServingState, *CookingState)},
    "c": {str(c) for c in ConnState},
    "k": {str(k) for k in RobotKind},
    "st": {str(s) for s in OrderStatus},
    "lv": {str(lv) for lv in Level},
    "ev": {str(e) for e in EventType} | set(OWN_TYPES) | {"inventory.low", "settings.changed"},
    "ak": set(SEVERITY),
    "sv": set(SEVERITY.values()),
    "as": _values(State),
    "to": _values(get_type_hints(TaskAttempt)["outcome"]),
    "tk": _values(get_type_hints(TaskAttempt)["kind"]),
    "ah": _values(get_type_hints(AlarmHistory)["action"]),
    "cmd": {str(a) for a in CommandAction},
    "tr": {"tcp", "mqtt", "vda5050"},
    "role": {"admin", "staff", "viewer"},
}
