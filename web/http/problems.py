"""RFC 9457 problem details: every error the web tier answers, with the field that was wrong.

Handlers raise ``Problem``; the wrapper every handler gets (web/http/edge.py) turns it (and
aiohttp's own HTTP exceptions) into ``application/problem+json``. ``from_validation`` maps a
msgspec error message to the field it names, so a client learns *which* field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import msgspec
import orjson
from aiohttp import web

PROBLEM_TYPE = "application/problem+json"
_TYPE_PREFIX = "urn:robodine:problem:"

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `(?P<path>[^`]*)`)?$", re.DOTALL)
_NAMED = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]+)`")


# The members every problem carries (RFC 9457's and ours, as ProblemOut declares them):
# ``extra`` adds context beside them and never replaces one.
STANDARD_MEMBERS = frozenset({"type", "title", "status", "detail", "instance", "code", "field"})


class Problem(Exception):
    """An error answer: HTTP status, a stable machine ``code``, and what went wrong.

    ``extra`` adds members (``in``, ``role``, ``order_status``, ...); a key that
    names a standard member is ignored, so ``status`` is always the HTTP status.
    """

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        field: str | None = None,
        title: str | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.field = field
        self.title = title or _title(status)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self, instance: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": _TYPE_PREFIX + self.code,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if self.field is not None:
            out["field"] = self.field
        if instance:
            out["instance"] = instance
        for k, v in self.extra.items():
            if k not in STANDARD_MEMBERS:
                out[k] = v
        return out

    def response(self, instance: str | None = None) -> web.Response:
        return web.Response(
            status=self.status,
            body=orjson.dumps(self.body(instance)),
            content_type=PROBLEM_TYPE,
            headers=self.headers,
        )


def _title(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def field_of(exc: msgspec.ValidationError, prefix: str = "") -> tuple[str | None, str]:
    """(field path, message) from a msgspec error: ``$.args.x`` -> ``args.x``."""
    m = _AT.match(str(exc))
    assert m is not None  # the pattern matches any string
    msg, path = m.group("msg"), m.group("path") or "$"
    field = path.removeprefix("$").removeprefix(".")
    named = _NAMED.search(msg)
    if named:
        field = f"{field}.{named.group('name')}" if field else named.group("name")
    if prefix:
        field = f"{prefix}.{field}" if field else prefix
    return (field or None), msg


def from_validation(exc: msgspec.ValidationError, *, where: str = "body") -> Problem:
    """422 for a well-formed request whose fields are wrong (type, range, unknown, missing)."""
    field, msg = field_of(exc)
    detail = f"{where}: {msg}" + (f" (field {field!r})" if field else "")
    return Problem(
        422, "invalid_field", detail, field=field, title="Invalid field", extra={"in": where}
    )


def unauthorized(code: str, detail: str) -> Problem:
    """401 with the RFC 6750 challenge; no error attribute when no token came at all."""
    challenge = 'Bearer realm="robodine"'
    if code != "missing_token":
        challenge += f', error="invalid_token", error_description="{code}"'
    return Problem(401, code, detail, headers={"WWW-Authenticate": challenge})


def not_found(what: str, ident: str) -> Problem:
    return Problem(404, "not_found", f"{what} {ident!r} not found")
