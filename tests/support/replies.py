"""The types of redis-py's replies as the tests' clients get them, for ``cast``.

redis-py types a reply as ``bytes | str`` (a stream range as possibly None) because a
client may be built with ``decode_responses=True``. The ``redis_client`` fixture
(tests/conftest.py) and most clients a test builds are not: their replies are bytes,
and a test names that once where it reads them instead of narrowing at every use.
Clients built with ``decode_responses=True`` get the ``Text*`` forms.
"""

from __future__ import annotations

RawFields = dict[bytes, bytes]
RawEntry = tuple[bytes, RawFields]
RawEntries = list[RawEntry]

TextFields = dict[str, str]
TextEntry = tuple[str, TextFields]
TextEntries = list[TextEntry]
