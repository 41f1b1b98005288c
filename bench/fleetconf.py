"""The config file each scenario runs the real processes with.

Robots, keys and the floor plan come from the simulator's writer
(``simulator.fleet_config.fleet_toml``, the same as `robodine sim
--write-config`); the benchmark then sets its own ports, Redis, spool and
limits on top and writes the result back as TOML.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config import Settings
from config.settings import RobotConfig, TcpSettings, UdpSettings
from simulator.fleet_config import fleet_toml


@dataclass(frozen=True)
class BenchConfig:
    path: Path
    data: dict[str, Any]

    @property
    def robots(self) -> list[dict[str, str]]:
        return list(self.data.get("robots", []))

    def robot_configs(self) -> list[RobotConfig]:
        return [RobotConfig(**r) for r in self.robots]

    def section(self, name: str) -> dict[str, Any]:
        return dict(self.data.get(name, {}))


def write_config(
    path: Path,
    robots: int,
    *,
    tcp_port: int,
    udp_port: int,
    redis_url: str,
    metrics_port: int,
    overrides: dict[str, dict[str, Any]] | None = None,
    robot_fields: dict[str, Any] | None = None,
) -> BenchConfig:
    """Write a config with ``robots`` robots; ``overrides`` are merged per section and
    ``robot_fields`` into every robot (e.g. ``{"transport": "mqtt"}``)."""
    base = Settings.model_construct(  # no env, no validation: only the ports are read
        tcp=TcpSettings(host="127.0.0.1", port=tcp_port),
        udp=UdpSettings(host="127.0.0.1", port=udp_port),
    )
    data = tomllib.loads(fleet_toml(robots, base, command="robodine bench"))
    sections: dict[str, dict[str, Any]] = {
        "gateway": {
            "name": "bench-gateway",
            "metrics_host": "127.0.0.1",
            "metrics_port": metrics_port,
            # Robots heard once stay online between load steps: the figures
            # measure telemetry, not a storm of online/stale events.
            "heartbeat_s": 1.0,
            "stale_after_s": 300.0,
            "offline_after_s": 600.0,
        },
        # One bench user opens every client socket (up to 500 in the full run).
        "web": {"max_feeds_per_user": 10_000, "max_feeds": 10_000},
        "redis": {"url": redis_url, "telemetry_maxlen": 50_000_000},
        # the camera socket on a port of the kernel's choosing (welcome names it), never 7702
        "camera": {"port": 0},
        "spool": {"path": str(path.parent / "spool.sqlite3")},
        "logging": {"level": "warning", "format": "json"},
    }
    for name, values in (overrides or {}).items():
        sections.setdefault(name, {}).update(values)
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    for robot in data.get("robots", []):
        robot.update(robot_fields or {})
    Settings(**data)  # fail here, with pydantic's message, rather than in a child process
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(dumps(data))
    return BenchConfig(path, data)


def dumps(data: dict[str, Any]) -> str:
    """A small TOML writer for config shapes: tables of scalars, lists, inline tables,
    and arrays of tables (``[[robots]]``)."""
    lines: list[str] = []
    for name, value in data.items():
        if isinstance(value, dict):
            lines += ["", f"[{name}]"]
            lines += [f"{k} = {_value(v)}" for k, v in value.items()]
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                lines += ["", f"[[{name}]]"]
                lines += [f"{k} = {_value(v)}" for k, v in item.items()]
        else:
            lines.insert(0, f"{name} = {_value(value)}")
    return "\n".join(lines).lstrip("\n") + "\n"


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(f"cannot write {type(v).__name__} to TOML")
