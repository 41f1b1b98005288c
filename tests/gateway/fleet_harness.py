"""A gateway's fleet and writer without sockets or Redis, for comparing ingest paths."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import msgspec
from redis.asyncio import Redis

from config import Settings
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from gateway.streams.spool import Spool
from gateway.streams.writer import StreamWriter

NOW = 1000.0


class FleetHarness:
    """Stats, writer and fleet at a fixed clock; what they hold, in comparable form."""

    def __init__(self, settings: Settings, tmp_path: Path) -> None:
        self.stats = Stats()
        self.writer = StreamWriter(
            cast(Redis, None),
            settings.redis,
            Spool(tmp_path / f"spool-{id(self)}.sqlite3", 100),
            self.stats,
            src="gw",
            clock=lambda: NOW,
        )
        self.fleet = Fleet(settings, self.writer, self.stats, NOW - 1)

    def samples(self) -> list[list[Any]]:
        return [msgspec.json.decode(s) for s in self.writer._telemetry]

    def events(self) -> list[tuple[str, str, str]]:
        return [
            (str(r.fields["type"]), str(r.fields["robot"]), str(r.fields["data"]))
            for r in self.writer._events
        ]

    def sessions(self) -> list[tuple[Any, ...]]:
        return [
            (s.id, s.conn, s.transport, s.x, s.y, s.battery, s.last_seen, s.link is not None)
            for s in self.fleet.sessions.values()
        ]
