"""The one structlog setup for every process: JSON under systemd, readable at a terminal."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from typing import Any

import orjson
import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Last line of defence: never print a value under a key that smells secret."""
    for k in event:
        if any(s in k.lower() for s in ("key", "secret", "password", "token", "proof")):
            event[k] = "[redacted]"
    return event


# The id of the HTTP request being handled, on every log line written meanwhile. A ContextVar
# of our own rather than structlog's bind_contextvars, which cost each request (most of which
# log nothing) more than the rest of its logging (bench rest).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    rid = request_id.get()
    if rid is not None:
        event.setdefault("request_id", rid)
    return event


class _Stderr:
    """sys.stderr looked up at each write, never kept.

    Loggers are cached on first use; one that held the stderr of the moment
    would write to a closed file after a test harness (or a daemonizer)
    swapped it.
    """

    def __init__(self, binary: bool) -> None:
        self.binary = binary

    def write(self, data: Any) -> None:
        (sys.stderr.buffer if self.binary else sys.stderr).write(data)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "info", fmt: str = "auto", *, cache: bool = True) -> None:
    json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact,
    ]
    if json:
        processors = [
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ]
        factory: Any = structlog.BytesLoggerFactory(_Stderr(binary=True))
    else:
        processors = [*shared, structlog.dev.ConsoleRenderer()]
        factory = structlog.PrintLoggerFactory(_Stderr(binary=False))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=cache,
    )
    # Libraries that use stdlib logging (aiohttp, alembic) go through the same level.
    logging.basicConfig(
        level=_LEVELS[level], stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s"
    )
