"""The access log through structlog: one ``http_request`` line per request, tokens redacted."""

from __future__ import annotations

import re
from typing import Any

import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from web.keys import REQUEST_ID, USER

_TOKEN = re.compile(r"([?&]token=)[^&]*")
log = structlog.get_logger("web.access")


def redact(path_qs: str) -> str:
    return _TOKEN.sub(r"\1[redacted]", path_qs)


class AccessLogger(AbstractAccessLogger):
    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        fields: dict[str, Any] = {
            "method": request.method,
            "path": redact(request.path_qs),
            "status": response.status,
            "duration_ms": round(time * 1000, 2),
            "remote": request.remote,
            "bytes": response.body_length,
        }
        rid = request.get(REQUEST_ID)
        if rid:
            fields["request_id"] = rid
        user = request.get(USER)
        if user is not None:
            fields["user"] = user.username
        if response.status >= 500:
            log.error("http_request", **fields)
        else:
            log.info("http_request", **fields)
