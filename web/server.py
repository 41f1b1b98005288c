"""Run the web tier: uvloop, signals, sd_notify, graceful shutdown in aiohttp's order.

Shutdown (SIGTERM/SIGINT): stop listening, end every feed and close every
WebSocket with 1001 (on_shutdown), give open requests ``web.shutdown_timeout_s``,
then release the resources in reverse order (cleanup_ctx). A second signal
exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import ssl
from collections.abc import Awaitable

import structlog
from aiohttp import web

from config import ConfigError, Settings
from config.loader import problem
from config.settings import WebSettings
from robodine.lifecycle import Notifier, run_until_signal, settle_heap
from robodine.ports import listening
from web.app import create_app
from web.http.access_log import AccessLogger
from web.http.protocol import Runner
from web.keys import METRICS
from web.metrics import serve_metrics

log = structlog.get_logger("web")


async def serve(settings: Settings, stop: Awaitable[object]) -> None:
    try:
        await _serve(settings, stop)
    finally:
        if inspect.iscoroutine(stop):  # never awaited when the start failed: no warning
            stop.close()


async def _serve(settings: Settings, stop: Awaitable[object]) -> None:
    app = create_app(settings)
    runner = Runner(  # aiohttp's own 400s as problem+json (web/http/protocol.py)
        app,
        access_log_class=AccessLogger,
        handle_signals=False,
        shutdown_timeout=settings.web.shutdown_timeout_s,
    )
    await runner.setup()  # resources up: Redis, database (migrated), hub, chat
    stack = contextlib.AsyncExitStack()
    try:
        w = settings.web
        tls = tls_context(w)
        site = web.TCPSite(
            runner, w.host, w.port, reuse_address=True, reuse_port=w.reuse_port, ssl_context=tls
        )
        with listening("web.port", "TCP", w.host, w.port):
            await site.start()
        listen = [f"{a[0]}:{a[1]}" for a in runner.addresses]
        metrics = await stack.enter_async_context(
            serve_metrics(app[METRICS], w, settings.redis.request_timeout_s)
        )
        log.info("web_started", name=w.name, listen=listen, metrics=metrics, frozen=settle_heap())
        notifier = Notifier()
        notifier.ready("serving")
        # The watchdog pings while the event loop runs: a stuck loop gets the unit restarted.
        watchdog = asyncio.create_task(notifier.run_watchdog(lambda: True))
        try:
            await stop
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
        log.info("web_stopping")
        notifier.stopping()
    finally:
        await stack.aclose()
        await runner.cleanup()
    log.info("web_stopped")


def tls_context(w: WebSettings) -> ssl.SSLContext | None:
    """HTTPS when web.tls_cert and web.tls_key are set; a file that cannot be read or a
    key that does not match is a config problem (exit status 2), said once."""
    if w.tls_cert is None or w.tls_key is None:
        return None
    for key, path in (("web.tls_cert", w.tls_cert), ("web.tls_key", w.tls_key)):
        if not path.is_file():
            raise ConfigError([problem(key, f"{path}: no such file")])
        if not os.access(path, os.R_OK):
            raise ConfigError([problem(key, f"{path}: not readable by this user")])
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.load_cert_chain(w.tls_cert, w.tls_key)
    except ssl.SSLError as exc:
        raise ConfigError(
            [problem("web.tls_cert", f"{w.tls_cert} and {w.tls_key} do not load: {exc.reason}")]
        ) from None
    return ctx


def run(settings: Settings) -> int:
    run_until_signal(lambda stop: serve(settings, stop))
    return 0
