"""The web tier's Prometheus metrics, in a registry of each application's own.

One ``CollectorRegistry`` per application (not prometheus-client's global one), so two
web apps in one process (the tests run several) count apart. ``serve_metrics`` answers
``GET /metrics`` on a listener of its own (``web.metrics_host:web.metrics_port``,
loopback by default, no login), like the gateway's: a scraper needs no token, and the
figures never share a port with the API. What only exists at scrape time (the hub's
read lag, the feeds' queue depths) is read then, in the event loop that owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from bisect import bisect_left
from collections import Counter as Tally
from collections.abc import AsyncIterator
from itertools import accumulate
from typing import TYPE_CHECKING

import structlog
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from config.settings import WebSettings
from robodine.redisio.streamid import StreamId

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from web.feeds.hub import Hub

log = structlog.get_logger("web.metrics")

# Request latency buckets, seconds: a REST answer takes milliseconds, a login ~0.2 s (argon2).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
UNROUTED = "unrouted"  # the route label of what no route took (404, 405, CORS preflights)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


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
        self.login_failures = Counter(
            "robodine_web_login_failures",
            "Failed logins: wrong user or password, or refused by the rate limit",
            ["reason"],
            registry=self.registry,
        )
        self.chat_messages = Counter(
            "robodine_web_chat_messages",
            "Chat messages posted by users through this process",
            ["room"],
            registry=self.registry,
        )
        self.topic_queued = Gauge(
            "robodine_web_topic_queued_frames",
            "Frames waiting for clients of a topic (queued, or latest-wins pending), at scrape",
            ["topic"],
            registry=self.registry,
        )
        self.topic_subscribers = Gauge(
            "robodine_web_topic_subscribers",
            "Subscriptions of a topic in this process, at scrape",
            ["topic"],
            registry=self.registry,
        )
        self.topic_behind = Gauge(
            "robodine_web_topic_behind",
            "Subscriptions of a topic re-reading the stream because they fell behind, at scrape",
            ["topic"],
            registry=self.registry,
        )
        self.hub_lag = Gauge(
            "robodine_web_hub_read_lag_seconds",
            "How far the hub's reader of a stream is behind its newest entry (stream id time)",
            ["stream"],
            registry=self.registry,
        )
        self._hub: Hub | None = None
        self._redis: Redis | None = None
        self._routes: list[RouteMetrics] = []
        self.registry.register(_HubCounters(self))
        self.registry.register(_RequestCounters(self._routes))

    def watch(self, hub: Hub, redis: Redis) -> None:
        """What the scrape reads: the hub (once it exists) and the shared Redis client."""
        self._hub, self._redis = hub, redis

    @property
    def hub(self) -> Hub | None:
        return self._hub

    async def refresh(self, timeout: float) -> None:
        """Set the gauges that are read, not counted: per-topic queues, the hub's lag."""
        hub = self._hub
        if hub is None:
            return
        queued: Tally[str] = Tally()
        subscribers: Tally[str] = Tally()
        behind: Tally[str] = Tally()
        for sub in hub.subscriptions():
            name = sub.topic.name
            subscribers[name] += 1
            queued[name] += sub.queued + sub.pending_latest
            behind[name] += sub.behind and sub.behind_since is not None
        for gauge, tally in (
            (self.topic_queued, queued),
            (self.topic_subscribers, subscribers),
            (self.topic_behind, behind),
        ):
            gauge.clear()
            for topic in hub.topic_names():
                gauge.labels(topic).set(tally[topic])
        await self._read_lag(hub, timeout)

    async def _read_lag(self, hub: Hub, timeout: float) -> None:
        streams = hub.streams()
        if self._redis is None or not streams:
            return
        pipe = self._redis.pipeline(transaction=False)
        for stream in streams:
            pipe.xinfo_stream(stream)
        try:
            async with asyncio.timeout(timeout):
                replies = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError, TimeoutError):
            self.hub_lag.clear()  # unknown while Redis does not answer: no stale figure
            return
        for stream, info in zip(streams, replies, strict=True):
            position = hub.position(stream)
            if isinstance(info, Exception) or position is None:
                with contextlib.suppress(KeyError):
                    self.hub_lag.remove(stream)
                continue
            newest = StreamId.parse(_text(info["last-generated-id"]))
            self.hub_lag.labels(stream).set(max(0, newest.ms - position.ms) / 1000)

    def route(self, route: str) -> RouteMetrics:
        counted = RouteMetrics(route)
        self._routes.append(counted)
        return counted


class RouteMetrics:
    """One route's request counts and latency histogram, as plain numbers: every request
    passes here, and the event loop is the only writer and the only reader (the scrape
    runs in it too), so a request costs a bisect and two additions, not prometheus-client's
    locks and label lookups."""

    __slots__ = ("counts", "latency", "route")

    def __init__(self, route: str) -> None:
        self.route = route
        self.counts: dict[tuple[str, int], int] = {}
        # method -> [observations per bucket (the last: above the largest), sum of seconds]
        self.latency: dict[str, tuple[list[int], list[float]]] = {}

    def answered(self, method: str, status: int, started: float | None) -> None:
        """``started``: perf_counter at arrival, or None for a stream (not timed)."""
        if method not in METHODS:  # aiohttp takes any token: keep the label set bounded
            method = "other"
        key = (method, status)
        self.counts[key] = self.counts.get(key, 0) + 1
        if started is not None:
            took = time.perf_counter() - started
            hist = self.latency.get(method)
            if hist is None:
                hist = self.latency[method] = ([0] * (len(LATENCY_BUCKETS) + 1), [0.0])
            hist[0][bisect_left(LATENCY_BUCKETS, took)] += 1
            hist[1][0] += took


class _RequestCounters(Collector):
    """The routes' counts and histograms (RouteMetrics) as Prometheus families."""

    def __init__(self, routes: list[RouteMetrics]) -> None:
        self._routes = routes

    def describe(self) -> list[Metric]:
        return [_requests(), _latency()]

    def collect(self) -> list[Metric]:
        return self._families()

    def _families(self) -> list[Metric]:
        requests, latency = _requests(), _latency()
        bounds = [*(repr(b) for b in LATENCY_BUCKETS), "+Inf"]
        for r in self._routes:
            for (method, status), n in r.counts.items():
                requests.add_metric([method, r.route, str(status)], n)
            for method, (per_bucket, total) in r.latency.items():
                cumulative = list(accumulate(per_bucket))
                latency.add_metric(
                    [method, r.route], list(zip(bounds, cumulative, strict=True)), total[0]
                )
        return [requests, latency]


def _requests() -> CounterMetricFamily:
    return CounterMetricFamily(
        "robodine_web_requests",
        "HTTP requests answered, by route template (not the path: bounded) and status",
        labels=["method", "route", "status"],
    )


def _latency() -> HistogramMetricFamily:
    return HistogramMetricFamily(
        "robodine_web_request_duration_seconds",
        "Time to the answer of a request (streams, WebSockets and SSE, are not timed)",
        labels=["method", "route"],
    )


class _HubCounters(Collector):
    """The hub's own running totals (web/feeds/hub.py ``stats``) as counters."""

    HELP = {
        "entries": "Stream entries the hub's readers read",
        "frames_offered": "Frames offered to subscriptions (one per frame and subscriber)",
        "fell_behind": "Times a reliable subscription fell behind and re-read the stream",
        "too_slow": "Subscriptions closed with 4008 for staying behind past web.lag_timeout_s",
        "skipped_ahead": "Reads that skipped to the newest page of a latest-wins stream",
        "read_newest": "Reads that went straight to the newest page (while skipping ahead)",
        "dropped": "Latest-wins frames replaced before a slow client took them",
    }

    def __init__(self, metrics: WebMetrics) -> None:
        self._metrics = metrics

    def describe(self) -> list[CounterMetricFamily]:
        return [
            CounterMetricFamily(f"robodine_web_hub_{name}", text)
            for name, text in self.HELP.items()
        ]

    def collect(self) -> list[CounterMetricFamily]:
        hub = self._metrics.hub
        if hub is None:
            return []
        stats = {**hub.stats, "dropped": hub.dropped_total()}
        return [
            CounterMetricFamily(f"robodine_web_hub_{name}", text, value=stats.get(name, 0))
            for name, text in self.HELP.items()
        ]


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


@contextlib.asynccontextmanager
async def serve_metrics(
    metrics: WebMetrics, settings: WebSettings, timeout: float
) -> AsyncIterator[str | None]:
    """``GET /metrics`` on web.metrics_host:web.metrics_port while the block runs; yields
    the address bound, or None (turned off, or the port taken: logged, the web tier runs on
    without its metrics, as the gateway does)."""
    if not settings.metrics_port:
        yield None
        return

    async def scrape(request: web.Request) -> web.Response:
        await metrics.refresh(timeout)
        body = generate_latest(metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    app = web.Application()
    app.router.add_get("/metrics", scrape)
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    host, port = settings.metrics_host, settings.metrics_port
    try:
        try:
            await web.TCPSite(runner, host, port, reuse_address=True).start()
        except OSError as exc:
            log.warning("metrics_unavailable", host=host, port=port, error=str(exc))
            yield None
        else:
            yield f"{host}:{port}"
    finally:
        await runner.cleanup()
