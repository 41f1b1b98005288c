"""ingest-mqtt: telemetry through mosquitto into rd:telemetry, msg/s."""

from __future__ import annotations

from bench import availability
from bench.harness import Context, Result

NAME = "ingest-mqtt"
MEASURES = "telemetry through mosquitto into rd:telemetry, msg/s"
CEILING = "raw mosquitto publish->subscribe rate, same payloads"
GOAL = ">= 0.5 of the ceiling"


def unavailable() -> str | None:
    reason = availability.gateway_mqtt()
    return reason or ("the gateway's MQTT transport is new and still changing; this scenario "
                      "(telemetry via mosquitto vs raw mosquitto pub->sub) is not written yet")


def run(ctx: Context) -> Result:
    raise NotImplementedError(NAME)
