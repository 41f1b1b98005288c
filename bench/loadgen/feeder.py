"""Writes telemetry entries into rd:telemetry at a steady rate, as the gateway would.

For scenarios that measure the web tier alone (fanout): the entries are
``protocol.streams.TelemetryRecord`` fields, pipelined every 10 ms, so the
gateway's own cost stays out of the figure.
"""

from __future__ import annotations

import random
import time
from multiprocessing.connection import Connection

import redis

from bench.loadgen.child import Child
from protocol import streams
from protocol.streams import TelemetryRecord

__all__ = ["Feeder"]

_TICK_S = 0.01


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
    client = redis.Redis.from_url(url)
    rng = random.Random(3)
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
                pipe = client.pipeline(transaction=False)
                for i in range(written, due):
                    robot = robots[i % len(robots)]
                    seqs[robot] += 1
                    now = time.time()
                    rec = TelemetryRecord(robot=robot, seq=seqs[robot], ts=now,
                                          x=round(rng.uniform(0, 40), 3),
                                          y=round(rng.uniform(0, 25), 3),
                                          theta=round(rng.uniform(-3.14, 3.14), 3),
                                          battery=87.5, speed=0.61, rx=now)
                    pipe.xadd(streams.TELEMETRY, streams.to_fields(rec),  # type: ignore[arg-type]
                              maxlen=1_000_000, approximate=True)
                pipe.execute()
                written = due
            time.sleep(_TICK_S)
    except BaseException as exc:
        conn.send(exc)
        raise
    finally:
        client.close()
