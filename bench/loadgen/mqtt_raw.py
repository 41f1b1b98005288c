"""Raw MQTT 3.1.1 publisher and subscriber for load generation (QoS 0 only).

A client library spends tens of microseconds per message in Python, which
would make it, not the broker or the gateway, the bound. The publisher here
pre-encodes PUBLISH packets (the same topics and JSON payloads a robodine/v1
robot sends, from ``protocol.mqtt_topics.publication_for``) and paces raw
writes like the UDP sender; the subscriber counts PUBLISH packets by their
fixed header without decoding them. MQTT 3.1.1 sections 3.1 (CONNECT),
3.3 (PUBLISH) and 3.8 (SUBSCRIBE).
"""

from __future__ import annotations

import asyncio
import random
import socket
import time
from multiprocessing.connection import Connection
from typing import Any

from bench.loadgen.child import Child, run_child, serve_pipe
from protocol.messages import Telemetry
from protocol.mqtt_topics import publication_for

__all__ = [
    "MqttPublisher",
    "MqttSubscriber",
    "connect_packet",
    "publish_packet",
    "remaining_length",
    "subscribe_packet",
]

_TICK_S = 0.0005


def remaining_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _str(s: bytes) -> bytes:
    return len(s).to_bytes(2, "big") + s


def connect_packet(client_id: str) -> bytes:
    body = _str(b"MQTT") + bytes((4, 0x02)) + (0).to_bytes(2, "big") + _str(client_id.encode())
    return b"\x10" + remaining_length(len(body)) + body


def publish_packet(topic: str, payload: bytes) -> bytes:
    body = _str(topic.encode()) + payload
    return b"\x30" + remaining_length(len(body)) + body


def subscribe_packet(topic_filter: str, packet_id: int = 1) -> bytes:
    body = packet_id.to_bytes(2, "big") + _str(topic_filter.encode()) + b"\x00"
    return b"\x82" + remaining_length(len(body)) + body


def _connect(host: str, port: int, client_id: str) -> socket.socket:
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(connect_packet(client_id))
    ack = sock.recv(4)
    if len(ack) < 4 or ack[0] != 0x20 or ack[3] != 0:
        raise ConnectionError(f"MQTT CONNECT refused: {ack!r}")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


# ---- publisher --------------------------------------------------------------------


class MqttPublisher:
    """Like ``UdpSender``: ``prepare(rate, seconds)`` encodes, ``go()`` sends and reports."""

    def __init__(self, host: str, port: int, robots: list[str]) -> None:
        self._child = Child(_pub_main, host, port, robots, name="bench-mqtt-publisher")

    @property
    def pid(self) -> int:
        return self._child.pid

    def prepare(self, rate: float, seconds: float) -> int:
        return int(self._child.call("prepare", (rate, seconds), timeout=300))

    def go(self) -> tuple[int, float]:
        sent, secs = self._child.call("go", timeout=600)
        return int(sent), float(secs)

    def close(self) -> None:
        self._child.close()


def _pub_main(conn: Connection, host: str, port: int, robots: list[str]) -> None:
    sock = _connect(host, port, f"bench-pub-{random.getrandbits(32):08x}")
    seqs = dict.fromkeys(robots, 0)
    rng = random.Random(11)
    packets: list[bytes] = []
    rate = 0.0
    try:
        while True:
            request, arg = conn.recv()
            if request == "stop":
                return
            if request == "prepare":
                rate, seconds = arg
                ts = time.time()
                packets = []
                for i in range(int(rate * seconds)):
                    robot = robots[i % len(robots)]
                    seqs[robot] += 1
                    pub = publication_for(
                        Telemetry(
                            robot=robot,
                            seq=seqs[robot],
                            ts=ts + i * 1e-6,
                            x=round(rng.uniform(0, 40), 3),
                            y=round(rng.uniform(0, 25), 3),
                            theta=round(rng.uniform(-3.14, 3.14), 3),
                            battery=round(rng.uniform(20, 100), 1),
                            speed=round(rng.uniform(0, 1), 2),
                        )
                    )
                    packets.append(publish_packet(pub.topic, pub.payload))
                conn.send(len(packets))
            elif request == "go":
                conn.send(_pace(sock, packets, rate))
                packets = []
    except BaseException as exc:
        conn.send(exc)
        raise
    finally:
        sock.close()


def _pace(sock: socket.socket, packets: list[bytes], rate: float) -> tuple[int, float]:
    n, sent = len(packets), 0
    clock = time.perf_counter
    t0 = clock()
    while sent < n:
        due = min(n, int((clock() - t0) * rate) + 1)
        if due > sent:
            sock.sendall(b"".join(packets[sent:due]))  # blocks when the broker pushes back
            sent = due
        if sent < n:
            time.sleep(_TICK_S)
    return sent, clock() - t0


# ---- subscriber ---------------------------------------------------------------------


class MqttSubscriber:
    """Counts PUBLISH packets on ``topic_filter``; ``count()`` is the running total."""

    def __init__(self, host: str, port: int, topic_filter: str) -> None:
        self._child = Child(_sub_main, host, port, topic_filter, name="bench-mqtt-subscriber")
        self._child.call("wait_subscribed", timeout=20)

    @property
    def pid(self) -> int:
        return self._child.pid

    def count(self) -> int:
        return int(self._child.call("count"))

    def close(self) -> None:
        self._child.close()


class _Counter(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = bytearray()
        self.publishes = 0
        self.subscribed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        i, size = 0, len(buf)
        while size - i >= 2:
            kind = buf[i] >> 4
            n, shift, j = 0, 0, i + 1
            while j < size:
                b = buf[j]
                n |= (b & 0x7F) << shift
                j += 1
                if not b & 0x80:
                    break
                shift += 7
            else:
                break
            if size - j < n:
                break
            i = j + n
            if kind == 3:
                self.publishes += 1
            elif kind == 9 and not self.subscribed.done():
                self.subscribed.set_result(None)
        del buf[:i]


def _sub_main(conn: Connection, host: str, port: int, topic_filter: str) -> None:
    run_child(conn, lambda c: _sub_serve(c, host, port, topic_filter))


async def _sub_serve(conn: Connection, host: str, port: int, topic_filter: str) -> None:
    loop = asyncio.get_running_loop()
    sock = _connect(host, port, f"bench-sub-{random.getrandbits(32):08x}")
    sock.setblocking(False)
    transport, counter = await loop.create_connection(_Counter, sock=sock)
    transport.write(subscribe_packet(topic_filter))

    async def handle(request: str, arg: Any) -> Any:
        if request == "wait_subscribed":
            await asyncio.wait_for(counter.subscribed, 10)
            return True
        if request == "count":
            return counter.publishes
        raise ValueError(request)

    try:
        await serve_pipe(conn, handle, poll_s=0.005)
    finally:
        transport.close()
