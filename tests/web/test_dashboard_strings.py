"""Every label of the dashboard in Korean and English, and a word for every internal name.

Reads the ES modules as text (no browser): each key a module asks ``t()`` for, each field
label and table heading, is in the table of i18n.js or a module's ``addStrings`` (each key
defined once) with two non-empty strings; and every state, status, kind, level and event
type the server can send has the word the screens show instead of its id. The browser test
(tests/e2e/test_manager_layout.py) checks the rendered screens for what this cannot see.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest

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


def asked_for() -> dict[str, set[str]]:
    """key -> the modules that ask for it by name."""
    out: dict[str, set[str]] = {}
    for path in sorted(DASHBOARD.glob("*.js")):
        text = path.read_text()
        keys = set(re.findall(r'\bt\("([\w.]+)"\)', text))
        keys |= set(re.findall(r'\bfield\("([\w.]+)"', text))
        keys |= set(re.findall(r'\blabel: "([\w.]+)"', text))
        keys |= set(re.findall(r'\bunit: "([\w.]+)"', text))
        for heads in re.findall(r'\[((?:"\w*",?\s*)+)\]\.map\(\(k\) => h\("th"', text):
            keys |= {k for k in re.findall(r'"(\w*)"', heads) if k}
        for facts in re.findall(r"facts = \[(.*?)\];", text, re.S):
            keys |= set(re.findall(r'\["(\w+)", ', facts))
        for key in keys:
            out.setdefault(key, set()).add(path.name)
    return out


def test_every_label_has_both_languages() -> None:
    table = strings()
    assert len(table) > 300
    for key, (en, ko) in table.items():
        assert en.strip() and ko.strip(), f"{key}: {en!r} / {ko!r}"
    missing = {k: sorted(v) for k, v in asked_for().items() if k not in table}
    assert missing == {}, f"labels without a translation: {missing}"


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


@pytest.mark.parametrize("prefix", sorted(WORDS))
def test_every_internal_name_has_a_word(prefix: str) -> None:
    table = strings()
    values = WORDS[prefix]
    assert values, prefix
    missing = sorted(v for v in values if f"{prefix}_{v}" not in table)
    assert missing == [], f"no word for {prefix}: {missing}"
