"""The access log through structlog: one ``http_request`` line per request, tokens redacted."""

from __future__ import annotations

import logging
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
    return _TOKEN.sub(r"\1[redacted]", path_qs) if "token=" in path_qs else path_qs


def _logs(level: int) -> bool:
    check = getattr(log, "is_enabled_for", None)  # structlog's filtering loggers have it
    return check is None or bool(check(level))


class AccessLogger(AbstractAccessLogger):
    """Lines below the configured level cost nothing: aiohttp makes one per connection, and
    the level is read then; 5xx lines are errors and are written at any level but critical."""

    def __init__(self, logger: logging.Logger, log_format: str) -> None:
        super().__init__(logger, log_format)
        self._info = _logs(logging.INFO)
        self._error = _logs(logging.ERROR)

    @property
    def enabled(self) -> bool:
        return self._error

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        if response.status < 500 and not self._info:
            return
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
