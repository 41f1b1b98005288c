"""Bad input made from good input: JSON documents with a field dropped, retyped or renamed,
then (sometimes) the bytes cut, flipped or padded; and plain noise."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=24),
    st.sampled_from(
        [
            "",
            "not a time at all",
            "2025-01-15T12:00:00Z",
            "15.01.2025 12:00",
            "\x00",
            "é" * 40,
            "9" * 400,
        ]
    ),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=10,
)
NOISE = st.binary(max_size=600)


def _paths(doc: Any, here: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [here]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, (*here, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, (*here, i))
    return out


def _set(doc: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    copy = dict(doc) if isinstance(doc, dict) else list(doc)
    copy[head] = _set(doc[head], tuple(rest), value) if rest else value
    return copy


def _drop(doc: Any, path: tuple[Any, ...]) -> Any:
    *parent, last = path
    holder: Any = doc
    for p in parent:
        holder = holder[p]
    copy = dict(holder) if isinstance(holder, dict) else list(holder)
    del copy[last]
    return _set(doc, tuple(parent), copy)


@st.composite
def mutated_json(draw: st.DrawFn, documents: st.SearchStrategy[Any]) -> bytes:
    """A valid document, changed at up to three places, as bytes (sometimes damaged)."""
    doc = draw(documents)
    for _ in range(draw(st.integers(0, 3))):
        path = draw(st.sampled_from(_paths(doc)))
        op = draw(st.sampled_from(["drop", "set", "rename", "wrap"]))
        if op == "drop" and path:
            doc = _drop(doc, path)
        elif op == "rename" and path and isinstance(path[-1], str):
            value = _at(doc, path)
            doc = _set(_drop(doc, path), (*path[:-1], draw(st.text(max_size=12))), value)
        elif op == "wrap":
            doc = _set(doc, path, [_at(doc, path)])
        else:
            doc = _set(doc, path, draw(JSON))
    data = json.dumps(doc, allow_nan=True).encode()
    damage = draw(st.sampled_from(["none", "none", "none", "cut", "flip", "pad"]))
    if damage == "cut" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif damage == "flip" and data:
        i = draw(st.integers(0, len(data) - 1))
        data = data[:i] + bytes([data[i] ^ (1 << draw(st.integers(0, 7)))]) + data[i + 1 :]
    elif damage == "pad":
        data += draw(st.binary(min_size=1, max_size=20))
    return data


def _at(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def spray(rnd: Any, seed: bytes, n: int) -> list[bytes]:
    """``n`` quick byte-level mutants of ``seed`` (``rnd``: a hypothesis ``st.randoms()``):
    hypothesis makes the structure, this makes the volume."""
    out = []
    for _ in range(n):
        data = bytearray(seed)
        for _ in range(rnd.randint(1, 3)):
            op = rnd.randrange(5)
            i = rnd.randrange(len(data) + 1)
            if op == 0 and data:
                data[min(i, len(data) - 1)] ^= 1 << rnd.randrange(8)
            elif op == 1:
                del data[i:]
            elif op == 2:
                data[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
            elif op == 3:
                data[i:i] = rnd.choice(
                    [
                        b"{",
                        b"}",
                        b"[",
                        b'"',
                        b",",
                        b":",
                        b"null",
                        b"1e999",
                        b"\\u0000",
                        b"-0",
                        b"9" * 30,
                    ]
                )
            elif data:
                j = rnd.randrange(len(data))
                data[i:i] = data[j : j + rnd.randint(1, 16)]  # a piece of itself, elsewhere
        out.append(bytes(data))
    return out
