"""Camera writes take turns with the rest of the web process.

Robots' cameras tick together, so frames of many cameras arrive within the
same moment and wake every viewer at once: hundreds of 40 KB socket writes
ready in one turn of the event loop. asyncio runs everything that was ready at
the start of a turn before it polls its sockets again, so a telemetry entry,
an event or a REST request arriving then waited behind the whole burst.

The pacer lets at most ``per_turn`` camera writes run in one turn of the loop;
a viewer over the budget yields (``sleep(0)``) and writes in a later turn,
after the loop has polled its sockets and run what they woke. Video is the
lowest of the web tier's priorities: it may be late by a few turns; the rest
is never late behind it. Frames are not queued by this: each viewer still
holds only its newest frame (web/cameras/hub.py).
"""

from __future__ import annotations

import asyncio

PER_TURN = 8  # camera writes between two polls of the loop's sockets


class WritePacer:
    __slots__ = ("_used", "_waited", "per_turn")

    def __init__(self, per_turn: int = PER_TURN) -> None:
        self.per_turn = per_turn
        self._used = 0
        self._waited = 0  # turns viewers yielded for (a sign of a burst)

    async def turn(self) -> None:
        """Wait until this loop turn has budget for one more camera write, and take it."""
        while self._used >= self.per_turn:
            self._waited += 1
            await asyncio.sleep(0)
        if self._used == 0:
            # Runs at the start of the next turn, before the viewers that yielded in this one.
            asyncio.get_running_loop().call_soon(self._reset)
        self._used += 1

    @property
    def waited(self) -> int:
        return self._waited

    def _reset(self) -> None:
        self._used = 0
