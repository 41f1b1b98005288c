"""What every REST request and answer model builds on: base Structs, shared field types.

Request bodies forbid unknown fields (a typo is a 422 naming the field, not a
silent default). Times in REST bodies are ISO 8601 UTC strings; stream
records keep their float ``ts`` as the gateway wrote it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct


def doc(description: str, *examples: Any) -> Meta:
    """A field's description (and examples) for the API documents (OpenAPI, AsyncAPI)."""
    return Meta(description=description, examples=list(examples) if examples else None)


Username = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$",
        min_length=1,
        max_length=32,
        description="lowercase letters, digits, . _ -; up to 32",
    ),
]
Password = Annotated[str, Meta(min_length=8, max_length=1024)]
RoleName = Literal["admin", "staff", "viewer"]
RobotId = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="a robot's id (the config's `[[robots]]` or added through the API)",
        examples=["serve-1"],
    ),
]
StreamIdStr = Annotated[
    str,
    Meta(
        pattern=r"^\d{1,20}(-\d{1,20})?$", description="a stream id `ms-seq` (or a Unix time in ms)"
    ),
]
AwareDatetime = Annotated[datetime, Meta(tz=True)]
# Every integer a request carries is bounded on both sides (a huge one is a 422, never an
# overflow in the database driver); tests/web/test_openapi.py checks the document for any
# that is not. Row ids and counters fit SQL INTEGER on SQLite and PostgreSQL alike.
INT32_MAX = 2**31 - 1
RowId = Annotated[int, Meta(ge=1, le=INT32_MAX, description="a row's id")]
Offset = Annotated[int, Meta(ge=0, le=INT32_MAX, description="rows to skip")]


class Request(Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Query(Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ProblemOut(Struct, kw_only=True):
    """application/problem+json (RFC 9457) with our ``code`` and the wrong ``field``."""

    type: Annotated[str, doc("`urn:robodine:problem:<code>`", "urn:robodine:problem:invalid_field")]
    title: Annotated[str, doc("the status's phrase, or a short title")]
    status: Annotated[int, doc("the HTTP status", 422)]
    detail: Annotated[str, doc("what went wrong, for people")]
    code: Annotated[
        str,
        doc("what went wrong, for programs (the tables in docs/api.md section 3)", "invalid_field"),
    ]
    field: Annotated[
        str | None,
        doc(
            "the field that was wrong (`args.x`, `items[1].menu_item_id`, `Last-Event-ID`)",
            "args.x",
        ),
    ] = None
    instance: Annotated[str | None, doc("the path of the request")] = None


def schema(tp: Any) -> dict[str, Any]:
    return msgspec.json.schema(tp)
