"""Whether the parts a scenario needs exist yet, and if not, the reason to print."""

from __future__ import annotations

import importlib.util

from robodine.testing.servers import missing_binaries


def _module_missing(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is None
    except ModuleNotFoundError:
        return True


def web() -> str | None:
    """The web tier runs as `robodine web` (its package registers the command in web/cli.py)."""
    if _module_missing("web.cli"):
        return "`robodine web` does not exist yet (no web/cli.py)"
    missing = missing_binaries("redis-server")
    return f"{', '.join(missing)} not installed" if missing else None


def gateway_mqtt() -> str | None:
    if _module_missing("gateway.transports.mqtt"):
        return "the gateway has no MQTT transport yet (no gateway/transports/mqtt.py)"
    missing = missing_binaries("redis-server", "mosquitto")
    return f"{', '.join(missing)} not installed" if missing else None
