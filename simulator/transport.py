"""The seam between a simulated robot and the wire it speaks.

A ``Transport`` is shared by every robot of the process (one UDP socket, one
MQTT client ...); ``connect`` gives one robot a ``Link``, authenticated and
ready. The robot's loop (``simulator.robot``) only ever calls ``Link`` methods,
so adding MQTT or VDA 5050 means adding a module with a Transport and a line
in ``TRANSPORTS``, nothing else.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from config import Settings
from protocol.messages import GatewayMessage, RobotMessage, Telemetry
from protocol.vocabulary import RobotKind

__all__ = [
    "TRANSPORTS",
    "CameraLink",
    "Link",
    "LinkError",
    "MessageHandler",
    "RobotIdentity",
    "Transport",
    "gateway_host",
    "make_transport",
]

FIRMWARE = "robodine-sim/0.1"


@dataclass(frozen=True, slots=True)
class RobotIdentity:
    robot: str
    kind: RobotKind
    key: bytes = field(repr=False)
    firmware: str = FIRMWARE


class LinkError(Exception):
    """Connecting failed for a protocol reason (refused hello, bad welcome proof)."""


MessageHandler = Callable[[GatewayMessage], None]
"""Called, synchronously, for every gateway message after the handshake."""


class Link(Protocol):
    """One robot's authenticated connection."""

    @property
    def heartbeat_s(self) -> float | None:
        """Send a heartbeat this often; None when the transport has its own liveness."""

    @property
    def is_closing(self) -> bool: ...

    def ready(self) -> None:
        """The robot has sent its opening messages: deliver gateway messages from now on."""

    def send(self, msg: RobotMessage) -> None:
        """Send a stamped message (seq and ts already set); never blocks."""

    def send_telemetry(self, msg: Telemetry) -> None:
        """Send a telemetry sample on the transport's fast path (UDP for tcp)."""

    def close(self) -> None: ...


@runtime_checkable
class CameraLink(Protocol):
    """A link that carries camera chunks too (tcp: UDP to the camera port, or TCP frames)."""

    def send_camera(self, chunks: list[bytes]) -> None: ...


class Transport(Protocol):
    name: str

    async def start(self) -> None:
        """Open what the robots share (sockets, clients)."""

    async def connect(self, identity: RobotIdentity, on_message: MessageHandler) -> Link:
        """Connect and authenticate one robot; raise OSError, TimeoutError or LinkError."""

    async def aclose(self) -> None: ...


# name -> "module:factory"; a factory is ``(settings, host) -> Transport``.
# Imported lazily so a transport's dependencies load only when it is used.
TRANSPORTS: dict[str, str] = {
    "tcp": "simulator.client:TcpTransport.from_settings",
    "mqtt": "simulator.transport_mqtt:MqttTransport.from_settings",
    "vda5050": "simulator.transport_vda5050:VdaTransport.from_settings",
    "config": "simulator.transport_mixed:ConfiguredTransport.from_settings",  # per robot
}


def gateway_host(settings: Settings, host: str | None = None) -> str:
    """Where to reach the gateway: ``host`` if given, else the TCP bind address,
    with a wildcard bind (0.0.0.0, ::) meaning this machine."""
    if host:
        return host
    bind = settings.tcp.host
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}.get(bind, bind)


def make_transport(name: str, settings: Settings, host: str) -> Transport:
    try:
        target = TRANSPORTS[name]
    except KeyError:
        raise ValueError(
            f"unknown transport {name!r} (choose from {', '.join(TRANSPORTS)})"
        ) from None
    module_name, _, attr = target.partition(":")
    obj: object = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    factory: Callable[[Settings, str], Transport] = obj  # type: ignore[assignment]
    return factory(settings, host)
