"""paho's socket, read a chunk at a time: QoS 0 PUBLISH packets skip paho altogether.

paho 2.x reads one packet per ``loop_read``, with a recv() for its first byte,
one per remaining-length byte and one for the body, then builds an
``MQTTMessage``, runs its topic matcher and aiomqtt builds a ``Message``: about
half of the gateway's time per telemetry message. ``SplittingSocket`` stands
in for paho's socket (``split_reads``): one recv() of 64 KiB, the QoS 0
PUBLISH packets in it handed to ``on_run`` a run at a time (``protocol.mqtt_wire``), and paho
served every other packet whole, in stream order. QoS 1/2, acks, pings and the
keepalive stay paho's, so a QoS 1 PUBACK still leaves only after the handler.

aiomqtt's reader callback calls ``loop_read`` while the socket's ``pending()``
is positive (the hook it has for TLS), so every packet already read is handled
in the same wake-up. One wake-up reads the kernel socket once (more only for
TLS records already decrypted), so a busy broker cannot keep the loop here.
"""

from __future__ import annotations

from typing import Any

import aiomqtt

from protocol.mqtt_wire import OnRun, PacketSplitter

__all__ = ["CHUNK", "SplittingSocket", "split_reads"]

CHUNK = 65536


class SplittingSocket:
    """A socket for paho whose ``recv`` serves only the packets paho must see."""

    def __init__(self, sock: Any, on_run: OnRun) -> None:
        self._sock = sock
        self._on_run = on_run
        self._splitter = PacketSplitter()
        self._packet = b""  # the packet paho is being served
        self._may_read = True  # one kernel read per wake-up (see the module docstring)

    def recv(self, n: int) -> bytes:
        while not self._packet:
            packet = self._splitter.split(self._on_run)
            if packet is not None:
                self._packet = packet
                break
            if not self._may_read:
                raise BlockingIOError
            data: bytes = self._sock.recv(CHUNK)  # BlockingIOError, ssl.SSLWant*Error go to paho
            if not data:
                return data  # the broker closed: paho sees it as it would
            self._may_read = self._tls_pending()
            self._splitter.feed(data)
        out, self._packet = self._packet[:n], self._packet[n:]
        return out

    def pending(self) -> int:
        """aiomqtt calls ``loop_read`` again while this is positive; 0 ends the wake-up."""
        if self._packet or (self._splitter.buffered() and self._has_packet()):
            return 1
        if self._tls_pending():  # decrypted already: the fd will not say it is readable
            return 1
        self._may_read = True
        return 0

    def _tls_pending(self) -> bool:
        pending = getattr(self._sock, "pending", None)  # an SSLSocket's; a plain socket has none
        return pending is not None and pending() > 0

    def _has_packet(self) -> bool:
        """A whole packet is buffered: QoS 0 ones are handled as the check walks past them."""
        packet = self._splitter.split(self._on_run)
        if packet is None:
            return False
        self._packet = packet
        return True

    def __getattr__(self, name: str) -> Any:  # send, fileno, close, setblocking, ...
        return getattr(self._sock, name)


def split_reads(client: aiomqtt.Client, on_run: OnRun) -> None:
    """Make ``client`` hand runs of QoS 0 PUBLISH packets to ``on_run`` (MQTT 3.1.1 only).

    paho sets its new socket and then calls ``on_socket_open`` (aiomqtt's, which
    registers the reader) on every connect; we swap the socket in first.
    """
    paho = client._client  # aiomqtt exposes no socket hook of its own
    register = paho.on_socket_open
    assert register is not None

    def on_socket_open(mqttc: Any, userdata: Any, sock: Any) -> None:
        mqttc._sock = SplittingSocket(sock, on_run)
        register(mqttc, userdata, sock)

    paho.on_socket_open = on_socket_open
