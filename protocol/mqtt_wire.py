"""An MQTT 3.1.1 byte stream split into packets, sans-IO: QoS 0 PUBLISH decoded, the rest whole.

Why: a client library reads a packet with three recv() calls and builds
several objects per message; at tens of thousands of QoS 0 telemetry messages
a second that, not the broker, was the gateway's bound. ``PacketSplitter`` is
fed whole chunks (one recv of 64 KiB) and hands the QoS 0 PUBLISH packets
(MQTT 3.1.1 section 3.3) in it to a callback, a run at a time: one call with
a list of ``(topic, payload, retain)``, so the receiver can handle a few hundred
telemetry messages in one go. A run ends at any other packet (CONNACK,
SUBACK, PINGRESP, a QoS 1/2 PUBLISH, ...), which is returned as bytes after
the run was handed over, so the caller can give it to the client library
before anything after it is handled: the stream's order is kept.

A QoS 0 PUBLISH needs no reply, so handling it outside the library changes
nothing the broker sees. A packet we cannot read as one (a bad remaining
length, a topic that is not UTF-8) is returned whole, for the library to
refuse as it always did.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["OnRun", "PacketSplitter", "Publish"]

Publish = tuple[str, bytes, bool]  # topic, payload, retain
OnRun = Callable[[list[Publish]], None]

_QOS0_PUBLISH_MASK = 0xFE  # type, DUP and QoS bits: 0x30 is a QoS 0 PUBLISH (DUP must be 0)
_QOS0_PUBLISH = 0x30


class PacketSplitter:
    """Buffers what ``feed`` gets; ``split`` walks it packet by packet."""

    __slots__ = ("_buf", "_pos")

    def __init__(self) -> None:
        self._buf = b""
        self._pos = 0

    def feed(self, data: bytes) -> None:
        if self._pos >= len(self._buf):
            self._buf, self._pos = data, 0
        else:
            self._buf, self._pos = self._buf[self._pos :] + data, 0

    def buffered(self) -> int:
        """Bytes fed and not yet handled or returned."""
        return len(self._buf) - self._pos

    def split(self, on_run: OnRun) -> bytes | None:
        """Hand the whole QoS 0 PUBLISH packets up to the next other whole packet to
        ``on_run`` (one call, in stream order; none without any), then return that
        packet, or None at the end of the whole packets.

        The run counts as handled before ``on_run`` is called: if it raises, the
        same packets are not handed over again."""
        run: list[Publish] = []
        packet = self._walk(run)
        if run:
            on_run(run)
        return packet

    def _walk(self, run: list[Publish]) -> bytes | None:
        buf, pos = self._buf, self._pos
        end = len(buf)
        while end - pos >= 2:
            first, n = buf[pos], buf[pos + 1]
            body = pos + 2
            if n & 0x80:  # remaining length in 2-4 bytes (section 2.2.3)
                n &= 0x7F
                shift = 7
                while True:
                    if body >= end:
                        self._pos = pos
                        return None
                    byte = buf[body]
                    n |= (byte & 0x7F) << shift
                    body += 1
                    if not byte & 0x80:
                        break
                    shift += 7
                    if shift > 21:  # more than 4 bytes: not MQTT; the library refuses it
                        self._buf, self._pos = b"", 0
                        return buf[pos:]
            stop = body + n
            if stop > end:
                break
            if first & _QOS0_PUBLISH_MASK == _QOS0_PUBLISH and n >= 2:
                topic_end = body + 2 + (buf[body] << 8 | buf[body + 1])
                if topic_end <= stop:
                    try:
                        topic = buf[body + 2 : topic_end].decode()
                    except UnicodeDecodeError:
                        pass
                    else:
                        run.append((topic, buf[topic_end:stop], bool(first & 1)))
                        pos = stop
                        continue
            self._pos = stop
            return buf[pos:stop]
        self._pos = pos
        return None
