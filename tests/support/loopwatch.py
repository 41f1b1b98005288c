"""Watch a test's event loop: unhandled exceptions and callbacks that hold the loop.

asyncio reports an exception no one awaited ("Task exception was never retrieved", an
exception in a callback or protocol) to the loop's exception handler, which only logs
it; a callback that blocks (``time.sleep``, ``subprocess.wait``, a big synchronous job)
stalls every other task. The watch collects both and the fixture in tests/conftest.py
fails the test with them.

Callback timing is what asyncio's debug mode does in ``BaseEventLoop._run_once`` (warn
when a handle runs longer than ``loop.slow_callback_duration``), without the rest of
debug mode: debug mode also records a traceback for every handle, future and task
created, which slows the suite by about half. Here ``Handle._run`` itself is timed.
"""

from __future__ import annotations

import asyncio
import asyncio.events
import contextlib
import gc
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

SLOW_S = float(os.environ.get("ROBODINE_SLOW_CALLBACK_S", "1.0"))

_original_run: Callable[[asyncio.Handle], None] = asyncio.events.Handle._run
_watches: dict[asyncio.AbstractEventLoop, LoopWatch] = {}


def _timed_run(self: asyncio.Handle) -> None:
    watch = _watches.get(self._loop) if _watches else None  # type: ignore[attr-defined]  # Handle._loop: private, not in typeshed
    if watch is None:
        _original_run(self)
        return
    t0 = time.perf_counter()
    try:
        _original_run(self)
    finally:
        dt = time.perf_counter() - t0
        if dt >= watch.slow_s:
            watch.slow.append((dt, _describe(self)))


def _describe(handle: asyncio.Handle) -> str:
    callback = getattr(handle, "_callback", None)
    task = getattr(callback, "__self__", None)
    if isinstance(task, asyncio.Task):  # a task's step: name its coroutine, and where it is
        coro = task.get_coro()
        frame = getattr(coro, "cr_frame", None)
        where = f" at {frame.f_code.co_filename}:{frame.f_lineno}" if frame else ""
        return f"{task.get_name()} {getattr(coro, '__qualname__', coro)!s}{where}"
    return repr(handle)


class LoopWatch:
    """What went wrong on one loop while the watch was on."""

    def __init__(self, loop: asyncio.AbstractEventLoop, slow_s: float = SLOW_S) -> None:
        self.loop = loop
        self.slow_s = slow_s
        self.errors: list[dict[str, Any]] = []
        self.slow: list[tuple[float, str]] = []
        self._previous: Any = None

    def _handler(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        self.errors.append(context)
        if self._previous is not None:
            self._previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def start(self) -> None:
        self._previous = self.loop.get_exception_handler()
        self.loop.set_exception_handler(self._handler)
        _watches[self.loop] = self
        asyncio.events.Handle._run = _timed_run  # type: ignore[method-assign]  # patched on purpose: every callback timed

    def stop(self) -> None:
        # A task that failed unobserved reports when it is collected, often in a cycle
        # through its own traceback: collect now, while the handler still listens.
        gc.collect()
        _watches.pop(self.loop, None)
        if not _watches:
            asyncio.events.Handle._run = _original_run  # type: ignore[method-assign,assignment]  # asyncio's own back
        with contextlib.suppress(RuntimeError):
            self.loop.set_exception_handler(self._previous)

    def problems(self, *, errors: bool = True, slow: bool = True) -> list[str]:
        out: list[str] = []
        if errors:
            for ctx in self.errors:
                exc = ctx.get("exception")
                what = ctx.get("message", "")
                source = ctx.get("task") or ctx.get("future") or ctx.get("handle") or ""
                out.append(f"loop error: {what}: {exc!r} {source!r}"[:2000])
        if slow:
            out.extend(
                f"callback held the loop {dt:.2f} s (limit {self.slow_s:.2f} s): {what}"
                for dt, what in self.slow
            )
        return out


@contextlib.contextmanager
def watching(loop: asyncio.AbstractEventLoop, slow_s: float = SLOW_S) -> Iterator[LoopWatch]:
    watch = LoopWatch(loop, slow_s)
    watch.start()
    try:
        yield watch
    finally:
        watch.stop()
