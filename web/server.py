"""Run the web tier: uvloop, signals, sd_notify, graceful shutdown in aiohttp's order.

Shutdown (SIGTERM/SIGINT): stop listening, end every feed and close every
WebSocket with 1001 (on_shutdown), give open requests ``web.shutdown_timeout_s``,
then release the resources in reverse order (cleanup_ctx). A second signal
exits at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
from collections.abc import Awaitable

import structlog
import uvloop
from aiohttp import web

from config import Settings
from web.access_log import AccessLogger
from web.app import create_app

log = structlog.get_logger("web")


def sd_notify(message: str) -> None:
    """systemd's notify protocol in stdlib (STACK-NOTES 9); a no-op outside systemd."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
            s.connect(address)
            s.sendall(message.encode())
    except OSError as exc:
        log.warning("sd_notify_failed", error=str(exc))


def watchdog_interval() -> float | None:
    """Half of systemd's WatchdogSec, when the watchdog is on and meant for this process."""
    usec = os.environ.get("WATCHDOG_USEC")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


async def keep_watchdog(interval: float) -> None:
    """WATCHDOG=1 while the event loop runs: a stuck loop gets the unit restarted.

    Not gated on Redis or the database: restarting the web tier does not bring
    them back, and /ready already reports them.
    """
    while True:
        sd_notify("WATCHDOG=1")
        await asyncio.sleep(interval)


async def serve(settings: Settings, stop: Awaitable[object]) -> None:
    app = create_app(settings)
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        handle_signals=False,
        shutdown_timeout=settings.web.shutdown_timeout_s,
    )
    await runner.setup()  # resources up: Redis, database (migrated), hub, chat
    try:
        site = web.TCPSite(runner, settings.web.host, settings.web.port, reuse_address=True)
        await site.start()
        listen = [f"{a[0]}:{a[1]}" for a in runner.addresses]
        log.info("web_started", name=settings.web.name, listen=listen)
        sd_notify("READY=1\nSTATUS=serving")
        interval = watchdog_interval()
        watchdog = asyncio.create_task(keep_watchdog(interval)) if interval else None
        try:
            await stop
        finally:
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
        log.info("web_stopping")
        sd_notify("STOPPING=1")
    finally:
        await runner.cleanup()
    log.info("web_stopped")


def run(settings: Settings) -> int:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()

        def on_signal(signum: int) -> None:
            if stop.is_set():
                log.warning("forced_exit", signal=signal.Signals(signum).name)
                os._exit(128 + signum)
            log.info("signal_received", signal=signal.Signals(signum).name)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            await serve(settings, stop.wait())
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    return 0
