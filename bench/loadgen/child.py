"""A load generator process driven over a pipe: the parent asks, the child's loop answers.

The child runs an asyncio (uvloop) program; ``serve_pipe`` polls the pipe
between its own work and calls the handler for each request, so the load it
generates never waits on the parent. A crash in the child is sent to the
parent as the exception and raised there, not swallowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
from collections.abc import Awaitable, Callable, Coroutine
from multiprocessing.connection import Connection
from typing import Any

import uvloop

Handler = Callable[[str, Any], Awaitable[Any]]


class Child:
    """The parent's handle: ``call(request, arg)`` and ``close()``."""

    def __init__(self, target: Callable[..., None], *args: Any, name: str) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=target, args=(child, *args), name=name, daemon=True)
        self._proc.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self._proc.pid is not None
        return self._proc.pid

    def call(self, request: str, arg: Any = None, timeout: float = 60.0) -> Any:
        self._conn.send((request, arg))
        if not self._conn.poll(timeout):
            raise TimeoutError(f"{self._proc.name} did not answer {request!r} in {timeout}s")
        reply = self._conn.recv()
        if isinstance(reply, BaseException):
            raise RuntimeError(f"{self._proc.name} failed: {reply!r}") from reply
        return reply

    def close(self) -> None:
        with contextlib.suppress(OSError, BrokenPipeError):
            self._conn.send(("stop", None))
        self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2)


def run_child(conn: Connection, main: Callable[[Connection], Coroutine[Any, Any, None]]) -> None:
    """The child's entry: run ``main(conn)`` on uvloop; hand a crash to the parent."""
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main(conn))
    except BaseException as exc:
        with contextlib.suppress(OSError):
            conn.send(exc)
        raise


async def serve_pipe(conn: Connection, handler: Handler, poll_s: float = 0.01) -> None:
    """Answer requests until "stop"; ``handler(request, arg)`` returns the reply."""
    while True:
        while conn.poll():
            request, arg = conn.recv()
            if request == "stop":
                return
            conn.send(await handler(request, arg))
        await asyncio.sleep(poll_s)
