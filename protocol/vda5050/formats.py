"""The string formats the official VDA 5050 JSON schemas declare, checked on decode.

The official schemas (2.0.0, 2.1.0) declare one format: ``date-time`` on each
header's ``timestamp`` (1.1's text asks the same of its headers), RFC 3339 section 5.6
(``2017-04-15T11:40:03.12Z``; ``T`` and ``Z`` in either case, an offset instead
of ``Z``, any number of fraction digits). A date that does not exist (February 30)
or a leap second fails, as in the checker JSON Schema validators use.
``FORMATS`` names each format and its check; the models call ``check``, so a
message with a bad timestamp is a decode error (BAD_MESSAGE) and is never believed.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable, Mapping
from typing import Final

__all__ = ["FORMATS", "check_date_time", "is_date_time"]

_DATE_TIME: Final = re.compile(
    r"(\d{4})-(0[1-9]|1[0-2])-(\d\d)T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d+)?"
    r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)",
    re.ASCII | re.IGNORECASE,
)


def is_date_time(value: str) -> bool:
    """True if ``value`` is an RFC 3339 date-time naming a real day."""
    m = _DATE_TIME.fullmatch(value)
    if m is None:
        return False
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    return year > 0 and 1 <= day <= calendar.monthrange(year, month)[1]


def check_date_time(field: str, value: str | None) -> None:
    """Raise ValueError (a msgspec ValidationError while decoding) for a bad ``value``."""
    if value is not None and not is_date_time(value):
        raise ValueError(f"{field} {value!r} is not an RFC 3339 date-time")


FORMATS: Final[Mapping[str, Callable[[str], bool]]] = {"date-time": is_date_time}
