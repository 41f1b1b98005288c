"""The one structlog setup for every process: JSON under systemd, readable at a terminal."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from contextvars import ContextVar
from typing import Any, BinaryIO, TextIO, cast

import orjson
import structlog

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


_SECRET_PARTS = ("key", "secret", "password", "token", "proof")
# Keys already found harmless: most lines carry only these, and the substring test per key
# cost a line more than its JSON encoding (docs/performance.md).
_harmless: set[str] = set()


def _redact(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    """Last line of defence: never print a value under a key that smells secret."""
    for k in event.keys() - _harmless:
        if any(s in k.lower() for s in _SECRET_PARTS):
            event[k] = "[redacted]"
        elif len(_harmless) < 4096:  # keys come from code, but stay bounded if they do not
            _harmless.add(k)
    return event


# The id of the HTTP request being handled, on every log line written meanwhile. A ContextVar
# of our own rather than structlog's bind_contextvars, which cost each request (most of which
# log nothing) more than the rest of its logging (docs/performance.md).
request_id: ContextVar[str | None] = ContextVar("request_id", default=None)


def _add_request_id(_: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
    rid = request_id.get()
    if rid is not None:
        event.setdefault("request_id", rid)
    return event


class _UtcStamp:
    """``timestamp``: ISO 8601 in UTC with microseconds and a ``Z``, as structlog's
    ``TimeStamper(fmt="iso", utc=True)`` writes it, for less (an access-log line paid more
    for its datetime than for its JSON; docs/performance.md). The date and time of day
    are formatted once per second; only the microseconds are formatted per line.
    """

    def __init__(self) -> None:
        self._second: tuple[int, str] = (-1, "")  # one attribute: threads read it whole

    def __call__(self, _: Any, __: str, event: dict[str, Any]) -> dict[str, Any]:
        now = time.time()
        second, prefix = self._second
        if int(now) != second:
            second = int(now)
            prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = (second, prefix)
        event["timestamp"] = f"{prefix}.{int((now - second) * 1_000_000):06d}Z"
        return event


class _Stderr:
    """sys.stderr looked up at each write, never kept.

    Loggers are cached on first use; one that held the stderr of the moment
    would write to a closed file after a test harness (or a daemonizer)
    swapped it.
    """

    def __init__(self, binary: bool) -> None:
        self.binary = binary
        self._flush_on: asyncio.AbstractEventLoop | None = None  # a flush is scheduled there

    def write(self, data: Any) -> None:
        (sys.stderr.buffer if self.binary else sys.stderr).write(data)

    def flush(self) -> None:
        sys.stderr.flush()

    def flush_soon(self) -> None:
        """Flush once this event-loop iteration's callbacks have run (at once outside a loop)."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self._flush_on is not loop:
            self._flush_on = loop
            loop.call_soon(self._scheduled_flush)

    def _scheduled_flush(self) -> None:
        self._flush_on = None
        self.flush()


class _JsonLines(structlog.BytesLogger):
    """JSON lines on stderr: warnings and worse are flushed at once, info and debug lines
    once per event-loop iteration.

    A write() per line was a large share of a web request's CPU (one access-log line per
    request, docs/performance.md); lines of one iteration now share one write.
    They are in the stderr buffer meanwhile, in order with everything else written there,
    so a warning (say ``forced_exit`` before ``os._exit``) carries them out with it, and
    at interpreter exit Python flushes the rest. A SIGKILL may lose one iteration's info.
    """

    __slots__ = ()

    def _buffered(self, message: bytes) -> None:
        with self._lock:
            self._write(message + b"\n")
        self._file.flush_soon()  # type: ignore[union-attr]

    debug = info = _buffered


def configure_logging(level: str = "info", fmt: str = "auto", *, cache: bool = True) -> None:
    json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        _add_request_id,
        structlog.processors.add_log_level,
        _UtcStamp(),
        _redact,
    ]
    if json:
        processors = [
            *shared,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ]
        stderr = _Stderr(binary=True)
        factory: Any = lambda *_: _JsonLines(cast(BinaryIO, stderr))  # noqa: E731
    else:
        processors = [*shared, structlog.dev.ConsoleRenderer()]
        factory = structlog.PrintLoggerFactory(cast(TextIO, _Stderr(binary=False)))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=factory,
        cache_logger_on_first_use=cache,
    )
    _stdlib_through_structlog(_LEVELS[level], shared, json)


class _StdlibStream:
    """What the stdlib handler writes to: sys.stderr of the moment (see ``_Stderr``)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def _stdlib_through_structlog(level: int, shared: list[Any], json: bool) -> None:
    """The standard library's loggers (aiohttp, alembic, aiomqtt and paho, asyncio, SAQ)
    rendered by structlog's ProcessorFormatter: one JSON object a line, as our own lines,
    with ``logger`` naming the library's logger and the same timestamp, level, request id
    and redaction."""
    renderer: Any = (
        structlog.processors.JSONRenderer(serializer=lambda o, **_: orjson.dumps(o).decode())
        if json
        else structlog.dev.ConsoleRenderer()
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            renderer,
        ],
    )
    handler = logging.StreamHandler(cast(TextIO, _StdlibStream()))
    handler.setFormatter(formatter)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_robodine", False)]:
        root.removeHandler(old)
    handler._robodine = True  # type: ignore[attr-defined]  # replaced when configured again
    root.addHandler(handler)
    root.setLevel(level)
