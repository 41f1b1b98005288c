"""The web tier's Prometheus metrics, in a registry of each application's own.

One ``CollectorRegistry`` per application (not prometheus-client's global one), so two
web apps in one process (the tests run several) count apart. Nothing serves it yet: a
``/metrics`` route answers ``prometheus_client.generate_latest(app[METRICS].registry)``.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge


class WebMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.feeds_open = Gauge(
            "robodine_web_feeds_open",
            "Open feeds: topic WebSockets, SSE streams and chat sockets",
            ["kind"],
            registry=self.registry,
        )
        self.feeds_refused = Counter(
            "robodine_web_feeds_refused",
            "Feeds refused before the upgrade: per-user (429) or total (503) limit reached",
            ["limit"],
            registry=self.registry,
        )
        self.frames_rejected = Counter(
            "robodine_web_frames_rejected",
            "Client frames a WebSocket refused (an error frame, or the close of a binary one)",
            ["code"],
            registry=self.registry,
        )
        self.feeds_revoked = Counter(
            "robodine_web_feeds_revoked",
            "Open feeds ended because their token stopped being valid (user changed or removed)",
            registry=self.registry,
        )
