"""The VDA 5050 versions we speak, and which ``Dialect`` a version string names.

Versions are semantic (section 6.4): a major version is its own topic level
(``uagv/v2/...``), a minor version adds or renames fields, a patch only
clarifies. So a dialect serves a *line*, major.minor: 2.0.0 and 2.0.1 are spoken
the same. The gateway speaks to each AGV in the version the AGV announces in
its headers (or the one its config pins), writing that exact version string in
every header it sends it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from protocol.vda5050 import v1_1, v2_0
from protocol.vda5050.dialect import Dialect
from protocol.vda5050.enums import MAJOR_VERSION, VERSION

__all__ = [
    "DIALECTS",
    "LATEST",
    "SPOKEN",
    "default_for_major",
    "dialect_for",
    "is_version",
    "line_of",
]

LATEST: Final = Dialect(line="2.1", version=VERSION, major=MAJOR_VERSION)
DIALECTS: Final[Mapping[str, Dialect]] = {d.line: d for d in (v1_1.DIALECT, v2_0.DIALECT, LATEST)}
SPOKEN: Final = ", ".join(DIALECTS)  # for messages: "1.1, 2.0, 2.1"
_VERSION: Final = re.compile(r"(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})")


def is_version(value: str) -> bool:
    """[Major].[Minor].[Patch], as the header's ``version`` is defined (6.4)."""
    return _VERSION.fullmatch(value) is not None


def line_of(version: str) -> str | None:
    m = _VERSION.fullmatch(version)
    return f"{m[1]}.{m[2]}" if m else None


def dialect_for(version: str) -> Dialect | None:
    """The dialect that speaks ``version``, or None (a version we do not speak)."""
    line = line_of(version)
    return DIALECTS.get(line) if line is not None else None


def default_for_major(major: str) -> Dialect | None:
    """The newest line of a topic's major version (``v2`` -> 2.1), for messages that do not
    say their version (visualization may omit its header)."""
    found = [d for d in DIALECTS.values() if d.major == major]
    return found[-1] if found else None
