"""Writes telemetry entries into rd:telemetry at a steady rate, as the gateway would.

For scenarios that measure the web tier alone (fanout): the entries are laid
out as the gateway writes them (robot id, and the ``TelemetryRecord`` as one
JSON object; tests/bench checks they decode as one and take the web tier's
fast path), pipelined every millisecond, so the gateway's own cost stays out
of the figure. The feeder shares the 2 cores with the process it measures, so
it is kept cheap: each XADD is a per-robot head packed once by hiredis and the
sample, formatted from bytes made once (poses cycled per robot, one send time
per tick), and the replies are read with hiredis's parser on a plain socket.
redis-py's pipeline spent ~40 us of CPU per entry, building and converting a
record per entry ~28 us; hiredis packing each command ~1.7 us; this ~1.
"""

from __future__ import annotations

import random
import socket
import time
from multiprocessing.connection import Connection
from typing import Any

import hiredis
import redis
from hiredis import pack_command

from bench.loadgen.child import Child
from protocol import streams
from robodine.redisio.keys import KEYS

__all__ = ["Feeder"]

_TICK_S = 0.001
_POSES = 64  # poses cycled per robot: the fields vary as a moving robot's do
# What the gateway's batch script writes (gateway/streams/telemetry_batch.py).
_SAMPLE = (
    b'{"robot":"%s","seq":%d,"ts":%s,"x":%s,"y":%s,"theta":%s,"battery":87.5,'
    b'"speed":0.61,"transport":"udp","rx":%s}'
)


def _heads(robots: list[str]) -> dict[str, bytes]:
    """Each robot's XADD up to the sample's length: the command packed with an empty
    sample, whose ``$0\\r\\n\\r\\n`` is cut off."""

    def head(robot: str) -> tuple[Any, ...]:
        return (
            "XADD",
            KEYS.telemetry,
            "MAXLEN",
            "~",
            "1000000",
            "*",
            "robot",
            robot,
            streams.TELEMETRY_SAMPLE,
            "",
        )

    return {robot: pack_command(head(robot))[:-6] for robot in robots}


class Feeder:
    def __init__(self, redis_url: str, robots: list[str], rate: float) -> None:
        self._child = Child(_main, redis_url, robots, rate, name="bench-feeder")

    @property
    def pid(self) -> int:
        return self._child.pid

    def written(self) -> int:
        return int(self._child.call("written"))

    def close(self) -> None:
        self._child.close()


def _main(conn: Connection, url: str, robots: list[str], rate: float) -> None:
    kw = redis.Redis.from_url(url).connection_pool.connection_kwargs
    sock = socket.create_connection((kw.get("host", "127.0.0.1"), kw.get("port", 6379)))
    replies = hiredis.Reader()
    rng = random.Random(3)
    poses = [
        (
            b"%.3f" % rng.uniform(0, 40),
            b"%.3f" % rng.uniform(0, 25),
            b"%.3f" % rng.uniform(-3.14, 3.14),
        )
        for _ in range(_POSES)
    ]
    heads = _heads(robots)
    names = {robot: robot.encode() for robot in robots}
    seqs = dict.fromkeys(robots, 0)
    written = 0
    t0 = time.perf_counter()
    try:
        while True:
            while conn.poll():
                request, _ = conn.recv()
                if request == "stop":
                    return
                conn.send(written)
            due = int((time.perf_counter() - t0) * rate)
            if due > written:
                now = repr(time.time()).encode()  # one send time per tick, as repr writes it
                commands = []
                for i in range(written, due):
                    robot = robots[i % len(robots)]
                    seq = seqs[robot] = seqs[robot] + 1
                    x, y, theta = poses[seq % _POSES]
                    sample = _SAMPLE % (names[robot], seq, now, x, y, theta, now)
                    commands.append(b"%s$%d\r\n%s\r\n" % (heads[robot], len(sample), sample))
                sock.sendall(b"".join(commands))
                _read_replies(sock, replies, len(commands))
                written = due
            time.sleep(_TICK_S)
    except BaseException as exc:
        conn.send(exc)
        raise
    finally:
        sock.close()


def _read_replies(sock: socket.socket, reader: hiredis.Reader, n: int) -> None:
    while n:
        reply = reader.gets()
        if reply is False:
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("redis closed the connection")
            reader.feed(data)
            continue
        if isinstance(reply, hiredis.ReplyError):
            raise reply
        n -= 1
