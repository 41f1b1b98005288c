"""Every label of the dashboard in Korean and English, and a word for every internal name.

Reads the ES modules as text (no browser): each key a module asks ``t()`` for, each field
label and table heading, is in the table of i18n.js or a module's ``addStrings`` (each key
defined once) with two non-empty strings; and every state, status, kind, level and event
type the server can send has the word the screens show instead of its id. The browser test
(tests/e2e/test_manager_layout.py) checks the rendered screens for what this cannot see.
"""

from __future__ import annotations

import re

import pytest

from tests.support.dashboard import DASHBOARD, WORDS, strings


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


@pytest.mark.parametrize("prefix", sorted(WORDS))
def test_every_internal_name_has_a_word(prefix: str) -> None:
    table = strings()
    values = WORDS[prefix]
    assert values, prefix
    missing = sorted(v for v in values if f"{prefix}_{v}" not in table)
    assert missing == [], f"no word for {prefix}: {missing}"
