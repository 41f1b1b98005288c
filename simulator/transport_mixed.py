"""The config transport: each robot speaks what its config entry says (``transport``).

``robodine sim --transport config`` puts TCP+UDP, MQTT and VDA 5050 robots on
one floor from one process: the demo's mixed fleet. It holds one transport of
each kind the configured robots use and hands each robot to its own.
"""

from __future__ import annotations

from config import Settings
from simulator.transport import Link as SimLink
from simulator.transport import LinkError, MessageHandler, RobotIdentity, Transport

__all__ = ["ConfiguredTransport"]


class ConfiguredTransport:
    name = "config"

    def __init__(self, settings: Settings, transports: dict[str, Transport]) -> None:
        self.settings = settings
        self.transports = transports

    @classmethod
    def from_settings(cls, settings: Settings, host: str) -> ConfiguredTransport:
        from simulator.transport import make_transport  # not at import: the registry names us

        kinds = sorted({r.transport for r in settings.robots})
        return cls(settings, {k: make_transport(k, settings, host) for k in kinds})

    async def start(self) -> None:
        for t in self.transports.values():
            await t.start()

    async def connect(self, identity: RobotIdentity, on_message: MessageHandler) -> SimLink:
        robot = self.settings.robot(identity.robot)
        transport = self.transports.get(robot.transport) if robot is not None else None
        if transport is None:
            raise LinkError(f"robot {identity.robot!r} is not in the config")
        return await transport.connect(identity, on_message)

    async def aclose(self) -> None:
        for t in self.transports.values():
            await t.aclose()
