"""TCP connection codecs for both ends, with the hello handshake.

The gateway speaks first with a ``challenge`` nonce; the robot answers with a
``hello`` whose proof signs that nonce and one of its own; the gateway answers
``welcome`` with a proof of its own (docs/protocol.md, section Handshake).
Until then, the only message the gateway accepts is ``hello``; afterwards,
every message must name the robot that proved itself.

Both classes are sans-IO: bytes in, messages out, bytes to write back.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Literal

import msgspec

from protocol import auth
from protocol.camera_chunks import RawChunk, is_chunk
from protocol.envelope import BodyDecoder, encode, gateway_decoder, robot_decoder
from protocol.errors import LocalProtocolError, RemoteProtocolError
from protocol.framing import DEFAULT_MAX_FRAME, NEED_DATA, FrameDecoder, encode_frame
from protocol.messages import (
    Challenge,
    GatewayMessage,
    Hello,
    RobotMessage,
    Welcome,
)
from protocol.vocabulary import ErrorCode, RobotKind

__all__ = ["NEED_DATA", "GatewayConnection", "Phase", "RobotConnection"]


class Phase(StrEnum):
    HANDSHAKE = "handshake"
    OPEN = "open"


class _Codec:
    def __init__(self, max_frame: int) -> None:
        self._frames = FrameDecoder(max_frame)
        self.max_frame = max_frame
        self.phase = Phase.HANDSHAKE

    def receive_data(self, data: bytes) -> None:
        self._frames.receive_data(data)

    def send(self, msg: msgspec.Struct) -> bytes:
        return encode_frame(encode(msg), self.max_frame)


class GatewayConnection(_Codec):
    """The gateway's end of one robot TCP connection."""

    def __init__(
        self,
        key_for: Callable[[str], bytes | None],
        nonce: str,
        *,
        gateway: str = "",
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        super().__init__(max_frame)
        self._key_for = key_for
        self._decoder: BodyDecoder[RobotMessage] = gateway_decoder()
        self.nonce = nonce
        self.gateway = gateway
        self.robot: str | None = None
        self.kind: RobotKind | None = None
        self._key: bytes | None = None
        self._cnonce = ""

    def challenge(self) -> bytes:
        return self.send(Challenge(nonce=self.nonce, gateway=self.gateway))

    def next_event(self) -> RobotMessage | RawChunk | Literal[NEED_DATA]:  # type: ignore[valid-type]
        """The next message; a camera chunk (a binary frame body, §3) comes back raw."""
        body = self._frames.next_frame()
        if body is NEED_DATA:
            return NEED_DATA
        if is_chunk(body):
            if self.phase is Phase.HANDSHAKE:
                raise RemoteProtocolError("camera chunk before hello", code=ErrorCode.UNEXPECTED)
            return RawChunk(body)
        msg = self._decoder.decode(body)
        if self.phase is Phase.HANDSHAKE:
            if not isinstance(msg, Hello):
                raise RemoteProtocolError(
                    f"{type(msg).__name__.lower()} before hello", code=ErrorCode.UNEXPECTED
                )
            self._authenticate(msg)
            return msg
        if isinstance(msg, Hello):
            raise RemoteProtocolError("hello on an open connection", code=ErrorCode.UNEXPECTED)
        if msg.robot != self.robot:
            raise RemoteProtocolError(
                f"message names robot {msg.robot!r} on {self.robot!r}'s connection",
                code=ErrorCode.BAD_MESSAGE,
            )
        return msg

    def _authenticate(self, hello: Hello) -> None:
        key = self._key_for(hello.robot)
        # Unknown robot and wrong key give the same answer: no robot-id oracle.
        if key is None or not auth.proofs_match(
            auth.hello_proof(key, hello.robot, self.nonce, hello.cnonce), hello.proof
        ):
            raise RemoteProtocolError("hello proof does not verify", code=ErrorCode.AUTH_FAILED)
        self.phase = Phase.OPEN
        self.robot, self.kind, self._key, self._cnonce = hello.robot, hello.kind, key, hello.cnonce

    def welcome(
        self,
        session: str,
        heartbeat_s: float,
        udp_port: int | None,
        ts: float,
        camera_port: int | None = None,
    ) -> bytes:
        if self._key is None or self.robot is None:
            raise LocalProtocolError("welcome before a verified hello")
        proof = auth.welcome_proof(self._key, self.robot, self.nonce, self._cnonce)
        return self.send(
            Welcome(
                robot=self.robot,
                ts=ts,
                session=session,
                proof=proof,
                heartbeat_s=heartbeat_s,
                udp_port=udp_port,
                camera_port=camera_port,
            )
        )


class RobotConnection(_Codec):
    """A robot's end (used by the simulator, and a reference for vendors)."""

    def __init__(
        self,
        robot: str,
        kind: RobotKind,
        key: bytes,
        cnonce: str,
        *,
        firmware: str = "",
        max_frame: int = DEFAULT_MAX_FRAME,
    ) -> None:
        super().__init__(max_frame)
        self._decoder: BodyDecoder[GatewayMessage] = robot_decoder()
        self.robot, self.kind, self._key, self.cnonce = robot, kind, key, cnonce
        self.firmware = firmware
        self._nonce: str | None = None
        self.welcome: Welcome | None = None

    def hello(self, challenge: Challenge, ts: float) -> bytes:
        self._nonce = challenge.nonce
        proof = auth.hello_proof(self._key, self.robot, challenge.nonce, self.cnonce)
        return self.send(
            Hello(
                robot=self.robot,
                ts=ts,
                kind=self.kind,
                cnonce=self.cnonce,
                proof=proof,
                firmware=self.firmware,
            )
        )

    def chunk(self, chunk: bytes) -> bytes:
        """A camera chunk (protocol/camera_chunks.py) as a TCP frame."""
        return encode_frame(chunk, self.max_frame)

    def next_event(self) -> GatewayMessage | Literal[NEED_DATA]:  # type: ignore[valid-type]
        body = self._frames.next_frame()
        if body is NEED_DATA:
            return NEED_DATA
        msg = self._decoder.decode(body)
        if isinstance(msg, Welcome):
            if self._nonce is None:
                raise RemoteProtocolError("welcome before challenge", code=ErrorCode.UNEXPECTED)
            expected = auth.welcome_proof(self._key, self.robot, self._nonce, self.cnonce)
            if not auth.proofs_match(expected, msg.proof):
                raise RemoteProtocolError(
                    "welcome proof does not verify: not our gateway", code=ErrorCode.AUTH_FAILED
                )
            self.phase = Phase.OPEN
            self.welcome = msg
        return msg
