"""gateway.transports.mqtt_socket: QoS 0 PUBLISH bypasses paho, the rest reaches it, in order."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import aiomqtt
import paho.mqtt.client as paho_mqtt
from paho.mqtt.enums import CallbackAPIVersion

from gateway.transports.mqtt_socket import SplittingSocket, split_reads
from tests.support.protocol import PINGRESP, publish, topics

CONNACK = b"\x20\x02\x00\x00"
PUBACK_7 = b"\x40\x02\x00\x07"


async def _read_packet(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readexactly(2)
    n, shift, more = head[1] & 0x7F, 7, head[1] & 0x80
    while more:
        byte = await reader.readexactly(1)
        head += byte
        n |= (byte[0] & 0x7F) << shift
        shift, more = shift + 7, byte[0] & 0x80
    return head + await reader.readexactly(n)


async def test_through_aiomqtt_qos0_skips_paho_qos1_is_acked_after_its_handler_in_order() -> None:
    """A fake broker sends QoS 0, QoS 1, QoS 0 in one write: handled in that order, PUBACK after."""
    order: list[tuple[str, str]] = []
    from_client: asyncio.Queue[bytes] = asyncio.Queue()
    to_client: asyncio.Queue[bytes] = asyncio.Queue()
    left = asyncio.Event()

    async def broker(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert (await _read_packet(reader))[0] == 0x10  # CONNECT
        writer.write(CONNACK)
        writer.write(await to_client.get())
        try:
            while True:
                await from_client.put(await _read_packet(reader))
        except asyncio.IncompleteReadError:  # the client left
            writer.close()
            left.set()

    class Recorder(asyncio.Queue[Any]):
        def put_nowait(self, item: Any) -> None:  # as the gateway's Inbound queue
            order.append(("paho", item.topic.value))
            assert not any(p == PUBACK_7 for p in from_client._queue)  # type: ignore[attr-defined]  # typeshed has no Queue._queue

    server = await asyncio.start_server(broker, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = aiomqtt.Client(
        "127.0.0.1", port, protocol=aiomqtt.ProtocolVersion.V311, queue_type=Recorder
    )
    split_reads(client, lambda run: order.extend(("fast", topic) for topic, _, _ in run))
    to_client.put_nowait(
        b"".join(
            [
                publish("r/1/telemetry", b"1"),
                publish("r/1/state", b"2", qos=1, packet_id=7),
                publish("r/1/telemetry", b"3"),
            ]
        )
    )
    async with server, client:
        assert await asyncio.wait_for(from_client.get(), 5) == PUBACK_7
        assert order == [
            ("fast", "r/1/telemetry"),
            ("paho", "r/1/state"),
            ("fast", "r/1/telemetry"),
        ]
    await asyncio.wait_for(left.wait(), 5)


class _Firehose:
    """A kernel socket that always has ``size`` more bytes of a stream of ``packet``."""

    def __init__(self, packet: bytes, size: int, *, tls_records: int = 0) -> None:
        self.stream = packet * (10 * size // len(packet) + 1)
        self.size = size
        self.reads = 0
        self.tls_records = tls_records  # chunks an SSLSocket has decrypted already

    def recv(self, n: int) -> bytes:
        start = self.reads * self.size
        self.reads += 1
        return self.stream[start : start + self.size]

    def close(self) -> None:
        pass

    def pending(self) -> int:  # what an SSLSocket has decrypted and not handed out
        return max(0, self.tls_records - self.reads) * self.size


def _wake_up(client: paho_mqtt.Client) -> None:
    """What aiomqtt's reader callback does when the socket is readable."""
    while True:
        client.loop_read()
        if cast(SplittingSocket, client._sock).pending() > 0:  # _paho_on put it there
            continue
        break


def _paho_on(sock: SplittingSocket) -> paho_mqtt.Client:
    client = paho_mqtt.Client(CallbackAPIVersion.VERSION2)
    client._sock = sock
    return client


def test_one_wake_up_reads_the_kernel_socket_once_and_handles_all_of_it() -> None:
    packet = publish("robodine/v1/robots/r1/telemetry", b"{}")
    firehose = _Firehose(packet, 100 * len(packet) + 5)  # ends in a cut packet
    seen: list[str] = []
    sock = SplittingSocket(firehose, topics(seen))
    client = _paho_on(sock)
    _wake_up(client)
    assert (firehose.reads, len(seen)) == (1, 100)
    _wake_up(client)  # the cut packet is completed first
    assert (firehose.reads, len(seen)) == (2, 200)


def test_tls_records_already_decrypted_are_read_in_the_same_wake_up() -> None:
    packet = publish("robodine/v1/robots/r1/telemetry", b"{}")
    firehose = _Firehose(packet, 10 * len(packet), tls_records=3)
    seen: list[str] = []
    _wake_up(_paho_on(SplittingSocket(firehose, topics(seen))))
    assert (firehose.reads, len(seen)) == (3, 30)


def test_a_packet_for_paho_does_not_strand_decrypted_tls_records() -> None:
    stream = publish("a/b", b"x") + PINGRESP
    firehose = _Firehose(stream, len(stream), tls_records=3)
    seen: list[str] = []
    client = _paho_on(SplittingSocket(firehose, topics(seen)))
    _wake_up(client)
    assert (firehose.reads, seen) == (3, ["a/b"] * 3)


def test_paho_is_served_whole_packets_and_its_keepalive_still_works() -> None:
    stream = publish("a/b", b"x") + PINGRESP
    firehose = _Firehose(stream, len(stream))
    seen: list[str] = []
    client = _paho_on(SplittingSocket(firehose, topics(seen)))
    client._ping_t = 123.0  # a PINGREQ is out
    _wake_up(client)  # stops at the PINGRESP for paho, read in the same wake-up
    assert seen == ["a/b"]
    assert client._ping_t == 0
