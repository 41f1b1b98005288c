"""A minimal gateway for simulator tests: the real protocol codecs on real sockets.

``GatewayConnection`` runs the handshake, ``DatagramDecoder`` checks every
datagram's signature and sequence number. There is no fleet logic: the peer
records what arrives and lets a test send commands, ping, or drop a robot.
It can misbehave on purpose (``bad_welcome``, ``udp=False``).

Runnable on its own as a sink for load measurements::

    python -m tests.simulator.peer --config fleet.toml
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocol.camera_chunks import RawChunk
from protocol.errors import RemoteProtocolError
from protocol.framing import NEED_DATA
from protocol.messages import (
    Command,
    Error,
    Hello,
    Ping,
    RobotMessage,
    Telemetry,
    Welcome,
)
from protocol.tcp import GatewayConnection
from protocol.udp import DatagramDecoder, Dropped
from protocol.vocabulary import CommandAction


@dataclass
class PeerSession:
    robot: str
    conn: GatewayConnection
    writer: asyncio.StreamWriter
    hello: Hello
    messages: list[RobotMessage] = field(default_factory=list)

    def send(self, data: bytes) -> None:
        self.writer.write(data)


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, peer: PeerGateway) -> None:
        self.peer = peer

    def datagram_received(self, data: bytes, addr: Any) -> None:
        result = self.peer.decoder.decode(data)
        if isinstance(result, Dropped):
            self.peer.dropped.append(result)
        else:
            self.peer.telemetry.append(result)


class PeerGateway:
    def __init__(
        self,
        keys: dict[str, bytes],
        *,
        heartbeat_s: float = 0.2,
        udp: bool = True,
        port: int = 0,
        bad_welcome: bool = False,
        record: bool = True,
    ) -> None:
        self.keys = keys
        self.heartbeat_s = heartbeat_s
        self.udp = udp
        self.port = port
        self.bad_welcome = bad_welcome
        self.record = record
        self.udp_port: int | None = None
        self.decoder = DatagramDecoder(keys.get)
        self.sessions: dict[str, PeerSession] = {}
        self.hellos: list[Hello] = []
        self.messages: list[RobotMessage] = []  # every TCP message after a hello, in order
        self.chunks: list[RawChunk] = []  # camera chunks (binary frames), kept apart, raw
        self.telemetry: list[Telemetry] = []
        self.dropped: list[Dropped] = []
        self.refused: list[RemoteProtocolError] = []
        self.message_count = 0
        self._server: asyncio.Server | None = None
        self._udp: asyncio.DatagramTransport | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, backlog=2048)
        self.port = self._server.sockets[0].getsockname()[1]
        if self.udp and self._udp is None:
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _Udp(self), local_addr=("127.0.0.1", self.udp_port or 0)
            )
            self.udp_port = self._udp.get_extra_info("sockname")[1]

    async def stop_listening(self) -> None:
        """Close the listening socket and every connection (a gateway that went away)."""
        if self._server is not None:
            self._server.close()
            for s in list(self.sessions.values()):
                s.writer.close()
            await self._server.wait_closed()
            self._server = None

    async def aclose(self) -> None:
        await self.stop_listening()
        for t in list(self._handlers):
            t.cancel()
        for t in list(self._handlers):
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._udp is not None:
            self._udp.close()
            self._udp = None

    async def __aenter__(self) -> PeerGateway:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ---- one connection ----------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        conn = GatewayConnection(self.keys.get, secrets.token_hex(16), gateway="peer")
        session: PeerSession | None = None
        try:
            writer.write(conn.challenge())
            while data := await reader.read(65536):
                conn.receive_data(data)
                while True:
                    try:
                        msg = conn.next_event()
                    except RemoteProtocolError as exc:
                        self.refused.append(exc)
                        writer.write(conn.send(Error(code=exc.code, message=exc.message)))
                        if session is None:
                            return
                        continue
                    if msg is NEED_DATA:
                        break
                    if isinstance(msg, Hello):
                        session = self._welcome(conn, writer, msg)
                        continue
                    assert session is not None
                    self.message_count += 1
                    if not self.record:
                        continue
                    if isinstance(msg, RawChunk):
                        self.chunks.append(msg)
                    else:
                        session.messages.append(msg)
                        self.messages.append(msg)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            if session is not None and self.sessions.get(session.robot) is session:
                del self.sessions[session.robot]
            writer.close()
            self._handlers.discard(task)

    def _welcome(
        self, conn: GatewayConnection, writer: asyncio.StreamWriter, hello: Hello
    ) -> PeerSession:
        self.hellos.append(hello)
        self.decoder.reset(hello.robot)  # a new session may restart its counter
        old = self.sessions.get(hello.robot)
        if old is not None:
            old.writer.close()
        if self.bad_welcome:
            writer.write(
                conn.send(
                    Welcome(
                        robot=hello.robot,
                        session="x",
                        proof="00" * 32,
                        heartbeat_s=self.heartbeat_s,
                    )
                )
            )
        else:
            writer.write(
                conn.welcome(secrets.token_hex(8), self.heartbeat_s, self.udp_port, time.time())
            )
        session = PeerSession(hello.robot, conn, writer, hello)
        self.sessions[hello.robot] = session
        return session

    # ---- what tests do -----------------------------------------------------------

    def command(self, robot: str, cmd_id: str, action: str, attempt: int = 1, **args: Any) -> None:
        s = self.sessions[robot]
        s.send(
            s.conn.send(
                Command(
                    robot=robot,
                    id=cmd_id,
                    action=CommandAction(action),
                    args=args,
                    attempt=attempt,
                )
            )
        )

    def ping(self, robot: str) -> None:
        s = self.sessions[robot]
        s.send(s.conn.send(Ping(robot=robot)))

    def drop(self, robot: str) -> None:
        self.sessions[robot].writer.close()

    def of(self, robot: str, kind: type[Any]) -> list[Any]:
        return [m for m in self.messages if m.robot == robot and isinstance(m, kind)]

    async def wait_for(self, check: Callable[[], Any], within: float = 3.0) -> Any:
        """Poll ``check`` until it returns something truthy (and return that).

        Polling, not an Event: the checks read state of both the peer and the robot.
        """
        async with asyncio.timeout(within):
            while not (result := check()):  # noqa: ASYNC110
                await asyncio.sleep(0.01)
            return result


async def _main() -> None:  # pragma: no cover - a manual load sink
    import argparse

    from config import load_settings

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--config", required=True)
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    settings = load_settings(args.config)
    keys = {r.id: r.key_bytes for r in settings.robots}
    peer = PeerGateway(
        keys, heartbeat_s=settings.gateway.heartbeat_s, port=settings.tcp.port, record=False
    )
    peer.udp_port = settings.udp.port
    async with peer:
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            await asyncio.sleep(1.0)
            print(
                f"sessions {len(peer.sessions)}  telemetry {len(peer.telemetry)}/s  "
                f"tcp {peer.message_count}  dropped {len(peer.dropped)}",
                flush=True,
            )
            peer.telemetry.clear()


if __name__ == "__main__":  # pragma: no cover
    import uvloop

    uvloop.run(_main())
