"""orjson for every JSON body; msgspec Structs go through ``to_builtins`` first."""

from __future__ import annotations

from typing import Any

import msgspec
import orjson
from aiohttp import web


def dumps(obj: Any) -> bytes:
    return orjson.dumps(msgspec.to_builtins(obj))


def dumps_str(obj: Any) -> str:
    return dumps(obj).decode()


def json_response(
    obj: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=dumps(obj), status=status, content_type="application/json", headers=headers
    )
