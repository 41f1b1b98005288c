"""redis-py's types as the tests use them: the replies their clients get, for ``cast``,
and the fields they send.

redis-py types a reply as ``bytes | str`` (a stream range as possibly None) because a
client may be built with ``decode_responses=True``. The ``redis_client`` fixture
(tests/conftest.py) and most clients a test builds are not: their replies are bytes,
and a test names that once where it reads them instead of narrowing at every use.
Clients built with ``decode_responses=True`` get the ``Text*`` forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

from redis.typing import EncodableT, FieldT

RawFields = dict[bytes, bytes]
RawEntry = tuple[bytes, RawFields]
RawEntries = list[RawEntry]
RawStreams = list[tuple[bytes, RawEntries]]  # XREAD / XREADGROUP: each stream and its entries

TextFields = dict[str, str]
TextEntry = tuple[str, TextFields]
TextEntries = list[TextEntry]


def as_fields(fields: Mapping[str, Any] | Mapping[bytes, Any]) -> dict[FieldT, EncodableT]:
    """``fields`` itself, typed as XADD and HSET take them: redis-py's ``Dict`` of its
    unions is invariant, so a ``dict[str, str]`` (what ``to_fields`` makes) is refused."""
    return cast(dict[FieldT, EncodableT], fields)
