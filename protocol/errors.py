"""Errors raised by the sans-IO codecs.

Two sides, as in h11: a ``RemoteProtocolError`` means the peer sent something
we refuse (its ``code`` goes back to the robot in an ``error`` message); a
``LocalProtocolError`` means our own code misused a codec.
"""

from __future__ import annotations

from protocol.vocabulary import ErrorCode

__all__ = ["LocalProtocolError", "ProtocolError", "RemoteProtocolError"]


class ProtocolError(Exception):
    """Base of every codec error; never raised directly."""

    code: ErrorCode = ErrorCode.BAD_MESSAGE

    def __init__(self, message: str, *, code: ErrorCode | None = None) -> None:
        if type(self) is ProtocolError:
            raise TypeError("raise LocalProtocolError or RemoteProtocolError")
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0])


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol; ``code`` says how, for the ``error`` reply."""


class LocalProtocolError(ProtocolError):
    """Our side asked a codec for something the protocol forbids."""
