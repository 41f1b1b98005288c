"""A lean UDP telemetry sender: signs every datagram before the clock starts, then paces.

It runs in its own process and is driven over a pipe: ``prepare(rate, seconds)``
signs ``rate * seconds`` datagrams round-robin over the robots (each robot's
``seq`` keeps rising across steps, as the gateway's replay window demands);
``go()`` sends them at ``rate`` per second and reports what it sent. Sending a
pre-signed datagram costs about 3 µs, so the sender is not what limits a step,
and it sleeps (not spins) when it is ahead, so it leaves the other core alone.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import random
import socket
import time
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from protocol.messages import Telemetry
from protocol.udp import encode_datagram

__all__ = ["StepReport", "UdpSender"]

_TICK_S = 0.0005


@dataclass(frozen=True)
class StepReport:
    sent: int
    seconds: float
    errors: int

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0


class UdpSender:
    """The parent's handle on the sender process."""

    def __init__(self, host: str, port: int, robots: list[tuple[str, bytes]]) -> None:
        ctx = mp.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(
            target=_main, args=(child, host, port, robots), name="bench-udp-sender", daemon=True
        )
        self._proc.start()
        child.close()

    @property
    def pid(self) -> int:
        assert self._proc.pid is not None
        return self._proc.pid

    def prepare(self, rate: float, seconds: float, *, live: bool = False) -> int:
        """Sign ``rate * seconds`` datagrams now, or with ``live`` when each is sent, so
        its ``ts`` is the send time (for end-to-end latency)."""
        self._conn.send(("prepare", rate, seconds, live))
        return int(self._recv())

    def go(self) -> StepReport:
        self._conn.send(("go",))
        sent, seconds, errors = self._recv()
        return StepReport(sent, seconds, errors)

    def _recv(self) -> Any:
        if not self._conn.poll(300):
            raise TimeoutError("udp sender did not answer")
        reply = self._conn.recv()
        if isinstance(reply, BaseException):
            raise RuntimeError(f"udp sender failed: {reply!r}")
        return reply

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(("stop",))
        self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(2)


def _main(conn: Connection, host: str, port: int, robots: list[tuple[str, bytes]]) -> None:
    try:
        _serve(conn, host, port, robots)
    except BaseException as exc:  # hand the parent the reason instead of a silent exit
        conn.send(exc)
        raise


def _serve(conn: Connection, host: str, port: int, robots: list[tuple[str, bytes]]) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
    sock.connect((host, port))
    seqs = [0] * len(robots)
    rng = random.Random(7)
    pending: list[bytes] = []
    rate, n, live = 0.0, 0, False
    while True:
        cmd = conn.recv()
        if cmd[0] == "prepare":
            _, rate, seconds, live = cmd
            n = int(rate * seconds)
            pending = [] if live else _sign(robots, seqs, n, rng)
            conn.send(n)
        elif cmd[0] == "go":
            if live:
                conn.send(_pace_live(sock, robots, seqs, rng, n, rate))
            else:
                conn.send(_pace(sock, pending, rate))
            pending = []
        else:
            return


def _one(
    robots: list[tuple[str, bytes]], seqs: list[int], i: int, ts: float, rng: random.Random
) -> bytes:
    r = i % len(robots)
    robot, key = robots[r]
    seqs[r] += 1
    msg = Telemetry(
        robot=robot,
        seq=seqs[r],
        ts=ts,
        x=round(rng.uniform(0, 40), 3),
        y=round(rng.uniform(0, 25), 3),
        theta=round(rng.uniform(-3.14, 3.14), 3),
        battery=round(rng.uniform(20, 100), 1),
        speed=round(rng.uniform(0, 1), 2),
    )
    return encode_datagram(msg, key)


def _sign(
    robots: list[tuple[str, bytes]], seqs: list[int], n: int, rng: random.Random
) -> list[bytes]:
    ts = time.time()
    return [_one(robots, seqs, i, ts + i * 1e-6, rng) for i in range(n)]


def _pace_live(
    sock: socket.socket,
    robots: list[tuple[str, bytes]],
    seqs: list[int],
    rng: random.Random,
    n: int,
    rate: float,
) -> tuple[int, float, int]:
    sent = errors = 0
    clock = time.perf_counter
    t0 = clock()
    while sent < n:
        due = min(n, int((clock() - t0) * rate) + 1)
        while sent < due:
            try:
                sock.send(_one(robots, seqs, sent, time.time(), rng))
            except OSError:
                errors += 1
            sent += 1
        if sent < n:
            time.sleep(_TICK_S)
    return sent, clock() - t0, errors


def _pace(sock: socket.socket, datagrams: list[bytes], rate: float) -> tuple[int, float, int]:
    send = sock.send
    n = len(datagrams)
    sent = errors = 0
    clock = time.perf_counter
    t0 = clock()
    while sent < n:
        due = min(n, int((clock() - t0) * rate) + 1)
        while sent < due:
            try:
                send(datagrams[sent])
            except OSError:  # ENOBUFS / ECONNREFUSED: counted, the step shows it as loss
                errors += 1
            sent += 1
        if sent < n:
            time.sleep(_TICK_S)
    return sent, clock() - t0, errors
