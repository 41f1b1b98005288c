"""A minimal scripted robot for gateway tests: the real codecs over real sockets.

The simulator is the faithful robot; this one does exactly what a test says,
including the wrong things (bad frames, forged datagrams, floods).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from typing import Any

from protocol.framing import encode_frame
from protocol.messages import Ack, Challenge, Command, GatewayMessage, Heartbeat, State, Telemetry
from protocol.tcp import NEED_DATA, RobotConnection
from protocol.udp import encode_datagram
from protocol.vocabulary import RobotKind

KEYS = {
    "serve-1": "11" * 32,
    "serve-2": "22" * 32,
    "cook-1": "33" * 32,
}


def robots_config() -> list[dict[str, Any]]:
    return [
        {"id": "serve-1", "kind": "serving", "key": KEYS["serve-1"]},
        {"id": "serve-2", "kind": "serving", "key": KEYS["serve-2"]},
        {"id": "cook-1", "kind": "cooking", "key": KEYS["cook-1"]},
    ]


class TestRobot:
    __test__ = False

    def __init__(
        self,
        robot: str,
        kind: RobotKind,
        port: int,
        udp_port: int | None = None,
        key: bytes | None = None,
    ) -> None:
        self.robot, self.kind, self.port = robot, kind, port
        self.key = key if key is not None else bytes.fromhex(KEYS[robot])
        self.conn = RobotConnection(robot, kind, self.key, secrets.token_hex(16))
        self.udp_port = udp_port
        self.seq = 0
        self.inbox: asyncio.Queue[GatewayMessage] = asyncio.Queue()
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None
        self._udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    async def connect(self) -> GatewayMessage:
        """Connect and say hello; returns the gateway's answer (welcome or error)."""
        self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        challenge = await self.recv()
        assert isinstance(challenge, Challenge)
        self.writer.write(self.conn.hello(challenge, time.time()))
        return await self.recv()

    async def recv(self, timeout: float = 5.0) -> GatewayMessage:
        assert self.reader is not None
        async with asyncio.timeout(timeout):
            while True:
                msg = self.conn.next_event()
                if msg is not NEED_DATA:
                    return msg
                data = await self.reader.read(65536)
                if not data:
                    raise ConnectionError("gateway closed the connection")
                self.conn.receive_data(data)

    async def wait_command(self, timeout: float = 20.0) -> GatewayMessage:
        """Like recv, but heartbeating meanwhile: a robot that waits long is still alive."""
        async with asyncio.timeout(timeout):
            while True:
                try:
                    return await self.recv(timeout=0.2)
                except TimeoutError:
                    self.heartbeat()

    async def closed(self, timeout: float = 5.0) -> bool:
        assert self.reader is not None
        async with asyncio.timeout(timeout):
            while await self.reader.read(65536):
                pass
        return True

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def send(self, msg: Any) -> None:
        assert self.writer is not None
        self.writer.write(self.conn.send(msg))

    def send_raw(self, body: bytes) -> None:
        assert self.writer is not None
        self.writer.write(encode_frame(body, 1 << 30))

    def write_bytes(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)

    def state(self, state: str, task: str | None = None) -> None:
        self.send(
            State(robot=self.robot, seq=self.next_seq(), ts=time.time(), state=state, task=task)
        )

    def heartbeat(self) -> None:
        self.send(Heartbeat(robot=self.robot, seq=self.next_seq(), ts=time.time()))

    def ack(self, cmd: Command, ok: bool = True, reason: str | None = None) -> None:
        self.send(
            Ack(
                robot=self.robot,
                seq=self.next_seq(),
                ts=time.time(),
                id=cmd.id,
                ok=ok,
                reason=reason,
            )
        )

    def telemetry(
        self, x: float = 1.0, y: float = 2.0, battery: float = 80.0, seq: int | None = None
    ) -> Telemetry:
        return Telemetry(
            robot=self.robot,
            seq=self.next_seq() if seq is None else seq,
            ts=time.time(),
            x=x,
            y=y,
            theta=0.5,
            battery=battery,
            speed=0.3,
        )

    def udp(self, msg: Telemetry, key: bytes | None = None) -> None:
        assert self.udp_port is not None
        self.udp_raw(encode_datagram(msg, key or self.key))

    def udp_raw(self, data: bytes, port: int | None = None) -> None:
        port = port or self.udp_port
        assert port is not None
        self._udp.sendto(data, ("127.0.0.1", port))

    async def close(self) -> None:
        self._udp.close()
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
