"""How late a sleeping process wakes: the machine's own share of every latency figure.

A process of its own sleeps 1 ms at a time and records how much later than asked
it ran again. It does nothing the product does, so what it sees is the
scheduler's and the VM's: other processes holding the cores, the host taking a
virtual CPU away (steal). Measured in the same windows as a latency figure, it
tells the product's delays apart from the machine's: when the probe's p99 moves
with a figure's, the figure moved with the machine.
"""

from __future__ import annotations

import asyncio
import time
from array import array
from multiprocessing.connection import Connection
from typing import Any

from bench.loadgen.child import Child, run_child, serve_pipe
from bench.stats import percentiles

__all__ = ["WakeupProbe", "steal_ticks"]

SLEEP_S = 0.001


class WakeupProbe(Child):
    """``start()`` opens a window, ``window()`` closes it: lateness percentiles in ms."""

    def __init__(self) -> None:
        super().__init__(_main, name="bench-wakeup-probe")

    def start(self) -> None:
        self.call("start")

    def window(self) -> dict[str, Any]:
        return dict(self.call("window"))


def _main(conn: Connection) -> None:
    run_child(conn, _probe)


async def _probe(conn: Connection) -> None:
    late = array("d")
    measuring = False

    async def handle(request: str, arg: Any) -> Any:
        nonlocal measuring
        if request == "start":
            del late[:]
            measuring = True
            return True
        if request == "window":
            measuring = False
            return percentiles(late)
        raise ValueError(request)

    async def sleeper() -> None:
        while True:
            t0 = time.perf_counter()
            await asyncio.sleep(SLEEP_S)
            if measuring:
                late.append((time.perf_counter() - t0 - SLEEP_S) * 1000.0)

    task = asyncio.create_task(sleeper())
    await serve_pipe(conn, handle)
    task.cancel()


def steal_ticks() -> int:
    """The machine's stolen CPU time so far (/proc/stat, clock ticks; 0 where unknown)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
        return int(fields[8]) if len(fields) > 8 else 0
    except OSError:
        return 0
