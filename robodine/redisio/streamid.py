"""Redis stream ids as comparable values: the resume cursor of every feed."""

from __future__ import annotations

import re
from typing import NamedTuple

_ID = re.compile(r"^(\d{1,20})(?:-(\d{1,20}))?$", re.ASCII)
_MAX = 2**64 - 1
_new = tuple.__new__  # a NamedTuple without its Python-level __new__


class StreamId(NamedTuple):
    ms: int
    seq: int

    def __str__(self) -> str:
        return f"{self.ms}-{self.seq}"

    @classmethod
    def parse(cls, text: str) -> StreamId:
        """``ms-seq`` exactly; raise ValueError otherwise."""
        ms, dash, seq = text.partition("-")
        if dash and text.isascii() and ms.isdigit() and seq.isdigit():
            return _from_parts(ms, seq)  # the hub's hot path (one per sample): no regex
        m = _ID.fullmatch(text)
        if not m or m.group(2) is None:
            raise ValueError(f"{text!r} is not a stream id (ms-seq)")
        return _from_parts(m.group(1), m.group(2))

    @classmethod
    def parse_cursor(cls, text: str) -> StreamId:
        """A client's ``since``: an id, or a bare Unix time in ms meaning 'from that ms on'."""
        m = _ID.fullmatch(text)
        if not m:
            raise ValueError(f"{text!r} is not a stream id (ms-seq) or a time in ms")
        if m.group(2) is not None:
            return _from_parts(m.group(1), m.group(2))
        ms = int(m.group(1))
        if ms > _MAX:
            raise ValueError(f"{text!r} is out of range")
        return ZERO if ms == 0 else cls(ms - 1, _MAX)

    @property
    def exclusive(self) -> str:
        """As XRANGE's exclusive lower bound."""
        return f"({self}"


_ms_parts: dict[str, int] = {}  # recent ms parts: under load many ids of a read share one


def _from_parts(ms: str, seq: str) -> StreamId:
    """The checked value of ``ms``-``seq`` (ASCII digits). A function, not a classmethod,
    and the ms part looked up before it is converted: the hub calls it once per sample."""
    a = _ms_parts.get(ms)
    if a is None:
        if len(ms) > 20 or int(ms) > _MAX:
            raise ValueError(f"{ms}-{seq} is out of range")
        if len(_ms_parts) >= 256:
            _ms_parts.clear()
        a = _ms_parts[ms] = int(ms)
    if len(seq) > 20 or (b := int(seq)) > _MAX:
        raise ValueError(f"{ms}-{seq} is out of range")
    return _new(StreamId, (a, b))


ZERO = StreamId(0, 0)  # nothing is before it: a page `before` it is empty
MAX = StreamId(_MAX, _MAX)  # nothing is after it: a page `since` it is empty
