"""The scenarios, in the order they run: gateway first, then the web tier.

Each module has NAME, MEASURES, CEILING, GOAL, BOUNDED_BY, ``unavailable()`` and ``run(ctx)``
(see ``bench.harness``). Adding one means adding a module and a line here.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODULES: dict[str, str] = {
    "ingest-udp": "bench.scenarios.ingest_udp",
    "ingest-tcp": "bench.scenarios.ingest_tcp",
    "ingest-mqtt": "bench.scenarios.ingest_mqtt",
    "e2e-latency": "bench.scenarios.e2e_latency",
    "fanout": "bench.scenarios.fanout",
    "chat": "bench.scenarios.chat",
    "rest": "bench.scenarios.rest",
    "slow-client": "bench.scenarios.slow_client",
    "jobs": "bench.scenarios.jobs",
    "camera": "bench.scenarios.camera",
    "scale": "bench.scenarios.scale",
}


def load(name: str) -> ModuleType:
    return importlib.import_module(MODULES[name])
