"""Robodine wire protocol v1, sans-IO: bytes in, typed messages out, and back.

Nothing in this package opens a socket, awaits, reads a clock or logs; time
comes in as an argument. tests/protocol/test_sans_io.py enforces it.
"""

from protocol.errors import LocalProtocolError, ProtocolError, RemoteProtocolError
from protocol.vocabulary import PROTOCOL_VERSION, CommandAction, ErrorCode, MessageType, RobotKind

__all__ = [
    "PROTOCOL_VERSION",
    "CommandAction",
    "ErrorCode",
    "LocalProtocolError",
    "MessageType",
    "ProtocolError",
    "RemoteProtocolError",
    "RobotKind",
]
