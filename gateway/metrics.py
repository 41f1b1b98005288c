"""Counters for what the gateway drops, refuses and writes.

Hot paths bump plain ints (no lock, no label lookup per datagram); the
Prometheus collector reads them at scrape time. Log lines are for state
changes; counts are for everything that repeats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector


class Stats:
    """All counters of one gateway process, keyed by (name, label)."""

    def __init__(self) -> None:
        # A plain dict: ``Counter.__iadd__`` of an item costs four times a dict's
        # (inc runs once per telemetry sample).
        self.counts: dict[tuple[str, str], int] = {}
        self.gauges: dict[tuple[str, str], float] = {}
        # gauges read when scraped, not kept up to date on a hot path: (name, label) -> read
        self.probes: dict[tuple[str, str], Callable[[], float]] = {}

    def inc(self, name: str, label: str = "", n: int = 1) -> None:
        key = (name, label)
        self.counts[key] = self.counts.get(key, 0) + n

    def set(self, name: str, label: str, value: float) -> None:
        self.gauges[name, label] = value

    def probe(self, name: str, label: str, read: Callable[[], float]) -> None:
        self.probes[name, label] = read

    def get(self, name: str, label: str = "") -> int:
        return self.counts.get((name, label), 0)

    def total(self, name: str) -> int:
        return sum(v for (n, _), v in self.counts.items() if n == name)


# name -> (help, label name)
COUNTERS: dict[str, tuple[str, str]] = {
    "telemetry_received": ("Telemetry samples accepted", "transport"),
    "telemetry_dropped": ("Telemetry samples dropped by the gateway", "reason"),
    "udp_dropped": ("UDP datagrams dropped", "reason"),
    "frames_rejected": ("TCP frames answered with an error", "code"),
    "connections": ("TCP connections by outcome", "outcome"),
    "entries_written": ("Entries written to Redis", "stream"),
    "events_spooled": ("Events written to the on-disk spool during a Redis outage", ""),
    "events_replayed": ("Spooled events replayed into Redis", ""),
    "spool_overflow": ("Events lost because the spool was full", ""),
    "commands": ("Commands by outcome", "outcome"),
    "transitions_refused": ("Reported state changes refused by a state machine", "kind"),
    # MQTT and VDA 5050 (docs/mqtt.md, docs/vda5050.md)
    "mqtt_received": ("MQTT messages received, by first topic level", "root"),
    "mqtt_published": ("MQTT messages handed to the broker, by QoS", "qos"),
    "mqtt_dropped": ("robodine/v1 MQTT messages dropped (and queue/outbox overflow)", "reason"),
    "mqtt_unsent": ("Gateway messages with no MQTT channel (e.g. error replies)", "type"),
    "mqtt_outages": ("Times the broker became unreachable", ""),
    "vda_dropped": ("VDA 5050 messages dropped", "reason"),
    "vda_published": ("VDA 5050 messages published", "topic"),
    "vda_unsent": ("Gateway messages with no VDA 5050 equivalent", "type"),
    # robot cameras (docs/protocol.md §11, docs/streams.md Cameras)
    "camera_chunks": ("Camera chunks accepted, by transport", "transport"),
    "camera_frames": ("Whole camera frames taken (before the writer's latest-wins)", "camera"),
    "camera_bytes": ("Bytes of whole camera frames taken", "camera"),
    "camera_frames_dropped": ("Frames of an announced camera dropped", "camera"),
    "camera_dropped": ("Camera chunks and frames dropped", "reason"),
    # several gateways on one Redis (docs/scaling.md)
    "leases": ("Robot leases by outcome (acquired, taken, lost, wait_expired)", "outcome"),
}
GAUGES: dict[str, tuple[str, str]] = {
    "redis_up": ("1 while the stream writer reaches Redis", ""),
    "spool_degraded": ("1 while the spool's disk refuses writes (full, read-only, failing)", ""),
    "spool_depth": ("Events waiting in the on-disk spool for Redis", ""),
    "mqtt_up": ("1 while the MQTT client is connected and subscribed", ""),
    "robots": ("Robots by connection state", "state"),
    "buffered": ("Records waiting in memory for Redis", "kind"),
    "cameras": ("Announced cameras by state (live, stale, off)", "state"),
    "camera_assembly_bytes": ("Bytes held in camera frames in assembly", ""),
    "leases_held": ("Robots this gateway holds the lease of ([cluster])", ""),
    "leader": ("1 while this gateway is the leader ([cluster])", ""),
}


class StatsCollector(Collector):
    def __init__(self, stats: Stats) -> None:
        self.stats = stats

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        for name, (doc, label) in COUNTERS.items():
            fam = CounterMetricFamily(
                f"robodine_gateway_{name}", doc, labels=[label] if label else []
            )
            for (n, value), count in self.stats.counts.items():
                if n == name:
                    fam.add_metric([value] if label else [], count)
            yield fam
        for name, (doc, label) in GAUGES.items():
            gfam = GaugeMetricFamily(
                f"robodine_gateway_{name}", doc, labels=[label] if label else []
            )
            for (n, value), g in self.stats.gauges.items():
                if n == name:
                    gfam.add_metric([value] if label else [], g)
            for (n, value), read in self.stats.probes.items():
                if n == name:
                    gfam.add_metric([value] if label else [], read())
            yield gfam
