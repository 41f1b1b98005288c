"""Video waits its turn: a burst of camera writes never holds the loop's sockets back."""

from __future__ import annotations

import asyncio
import socket

from web.cameras.pacing import WritePacer


async def test_a_burst_of_viewers_writes_a_few_per_loop_turn() -> None:
    loop = asyncio.get_running_loop()
    pacer = WritePacer(per_turn=4)
    turn = 0

    def tick() -> None:  # counts the loop's turns: runs once in each
        nonlocal turn
        turn += 1
        if not done.is_set():
            loop.call_soon(tick)

    done = asyncio.Event()
    writes: list[int] = []

    async def viewer() -> None:
        await pacer.turn()
        writes.append(turn)

    loop.call_soon(tick)
    await asyncio.gather(*(viewer() for _ in range(100)))
    done.set()
    per_turn: dict[int, int] = {}
    for t in writes:
        per_turn[t] = per_turn.get(t, 0) + 1
    assert len(writes) == 100
    assert max(per_turn.values()) == 4  # never more than the budget in one turn
    assert len(per_turn) >= 25  # so the burst was spread over at least 25 turns
    assert pacer.waited > 0


async def test_data_arriving_mid_burst_is_read_before_the_burst_ends() -> None:
    loop = asyncio.get_running_loop()
    pacer = WritePacer(per_turn=4)
    order: list[str] = []
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)

    def readable() -> None:
        a.recv(100)
        order.append("telemetry")
        loop.remove_reader(a.fileno())

    async def viewer() -> None:
        await pacer.turn()
        order.append("camera")

    try:
        loop.add_reader(a.fileno(), readable)
        b.send(b"sample")  # ready before the burst starts; unpaced, it would wait for all 100
        await asyncio.gather(*(viewer() for _ in range(100)))
        await asyncio.sleep(0)
    finally:
        loop.remove_reader(a.fileno())
        a.close()
        b.close()
    assert order.count("camera") == 100
    assert order.index("telemetry") <= 8


async def test_an_unpaced_burst_would_hold_the_socket_back() -> None:
    """The same burst without the pacer: the reading waits behind every write (the defect)."""
    loop = asyncio.get_running_loop()
    order: list[str] = []
    a, b = socket.socketpair()
    a.setblocking(False)

    def readable() -> None:
        a.recv(100)
        order.append("telemetry")
        loop.remove_reader(a.fileno())

    async def viewer() -> None:
        order.append("camera")

    try:
        loop.add_reader(a.fileno(), readable)
        b.send(b"sample")
        await asyncio.gather(*(viewer() for _ in range(100)))
        await asyncio.sleep(0)
    finally:
        loop.remove_reader(a.fileno())
        a.close()
        b.close()
    assert order.index("telemetry") == 100
