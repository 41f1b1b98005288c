"""The loop watch (tests/support/loopwatch.py) on a loop of its own: it sees a callback
that blocks, a task whose exception no one retrieved and an exception in a callback."""

from __future__ import annotations

import asyncio
import contextlib
import time

from tests.support.loopwatch import watching


def test_the_watch_sees_blocking_and_unhandled_errors() -> None:
    loop = asyncio.new_event_loop()
    try:
        with watching(loop, slow_s=0.05) as watch:

            async def boom() -> None:
                raise ValueError("lost")

            def bad() -> None:
                raise KeyError("callback")

            async def scene() -> None:
                time.sleep(0.08)  # noqa: ASYNC251 - the blocking call the watch must see
                lost = loop.create_task(boom())
                loop.call_soon(bad)
                await asyncio.sleep(0.01)
                await asyncio.sleep(0)
                del lost  # dropped unobserved: reported when collected

            loop.run_until_complete(scene())
        problems = watch.problems()
    finally:
        loop.close()
    assert any("held the loop" in p and "scene" in p for p in problems), problems
    assert any("never retrieved" in p and "lost" in p for p in problems), problems
    assert any("Exception in callback" in p and "callback" in p for p in problems), problems
    assert watch.problems(errors=False, slow=False) == []


def test_quick_callbacks_and_handled_errors_pass() -> None:
    loop = asyncio.new_event_loop()
    try:
        with watching(loop, slow_s=0.5) as watch:

            async def fine() -> None:
                async def fails() -> None:
                    raise ValueError("seen")

                task = loop.create_task(fails())
                with contextlib.suppress(ValueError):
                    await task
                await asyncio.sleep(0.01)

            loop.run_until_complete(fine())
    finally:
        loop.close()
    assert watch.problems() == []
