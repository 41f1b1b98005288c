"""docs/performance.md names, for each library bypass, the tests that guard it: they exist.

A test renamed or moved without the register would leave a bypass guarded on paper only.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGISTER = ROOT / "docs" / "performance.md"
_PATH = re.compile(r"`(tests/[\w/]+\.py)(?:::(test_\w+))?`")
_NAME = re.compile(r"`(test_\w+)`")


def _sections() -> dict[str, str]:
    parts = re.split(r"^## ", REGISTER.read_text(), flags=re.MULTILINE)[1:]
    return {p.splitlines()[0]: p for p in parts}


def _defined(path: str) -> set[str]:
    text = (ROOT / path).read_text()
    return set(re.findall(r"^(?:async )?def (test_\w+)", text, flags=re.MULTILINE))


def test_every_bypass_says_what_it_replaces_its_figure_and_its_guard() -> None:
    sections = _sections()
    bypasses = [t for t in sections if t != "Other measured choices"]
    assert len(bypasses) >= 7
    for title in bypasses:
        for part in ("**Replaces**", "**Figure**", "**Guarded by**"):
            assert part in sections[title], (title, part)


def test_the_tests_the_register_names_exist() -> None:
    named = 0
    for title, text in _sections().items():
        paths = [m.group(1) for m in _PATH.finditer(text)]
        for path in paths:
            assert (ROOT / path).is_file(), (title, path)
        defined = set().union(*(_defined(p) for p in paths)) if paths else set()
        for m in _PATH.finditer(text):
            if m.group(2):
                assert m.group(2) in _defined(m.group(1)), (title, m.group(0))
                named += 1
        for name in _NAME.findall(text):
            assert name in defined, (title, name)
            named += 1
    assert named >= 30


_FIGURE = re.compile(
    r"\b\d[\d,.]* ?(?:us|µs|ns)\b"  # a measured duration
    r"|\b(?:req|msg|datagrams|entries|samples|frames)/s\b"  # a measured rate
    r"|bench/RESULTS|\bbench (?:rest|fanout|ingest|e2e)"  # a bench run cited as the source
)


def test_no_benchmark_figure_in_the_code() -> None:
    """Figures go stale in comments: the code says why, the register keeps the numbers."""
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for package in ("gateway", "web", "protocol", "robodine", "simulator", "config")
        for path in sorted((ROOT / package).rglob("*"))
        if path.suffix in {".py", ".js", ".lua"}
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if _FIGURE.search(line)
    ]
    assert not found, "\n".join(found)
