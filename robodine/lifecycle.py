"""Talking to the service manager: sd_notify readiness, status, watchdog pings, signals.

Stdlib only. The notify protocol is one datagram of ``KEY=value`` lines sent to
the AF_UNIX socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the
abstract namespace), as in systemd's MIT-0 ``man/notify-selfcontained-example.py``;
systemd documents it as a stable interface, so no ``sdnotify`` package is needed.

Outside systemd (tests, a terminal) ``$NOTIFY_SOCKET`` is unset and every call
is a no-op returning False. A notify failure never raises: losing a STATUS line
must not take the gateway down, and a missed WATCHDOG ping is what the watchdog
is there to notice anyway.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
from collections.abc import Awaitable, Callable, Mapping
from typing import NoReturn

import structlog

__all__ = [
    "NOTIFY_SEND_TIMEOUT_S",
    "Notifier",
    "install_signal_handlers",
    "notify",
    "run_until_signal",
    "settle_heap",
]

log = structlog.get_logger(__name__)

# A blocking send to systemd only waits when its socket queue is full; bound it
# so a wedged manager costs the event loop at most this, and drop the message.
NOTIFY_SEND_TIMEOUT_S = 0.5
# STATUS= is one line shown by `systemctl status`; keep it short and single-line.
STATUS_MAX_CHARS = 200

# (socket address, error kind) pairs already logged, so a missing socket is
# reported once and not on every 5 s watchdog ping.
_reported: set[tuple[str, str]] = set()


def _report_once(address: str, kind: str, **fields: object) -> None:
    if (address, kind) in _reported:
        return
    _reported.add((address, kind))
    log.warning("sd_notify_failed", notify_socket=address, reason=kind, **fields)


def _send(address: str, message: str) -> bool:
    if not address:
        return False
    if address[0] == "@":
        target = "\0" + address[1:]  # abstract namespace socket
    elif address[0] == "/":
        target = address
    else:
        _report_once(address, "unsupported_address")
        return False
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.settimeout(NOTIFY_SEND_TIMEOUT_S)
            sock.connect(target)
            sock.sendall(message.encode())
    except OSError as exc:  # missing/refused socket, full queue (timeout), EPERM
        _report_once(address, type(exc).__name__, error=str(exc))
        return False
    return True


def notify(message: str) -> bool:
    """Send one notify datagram (e.g. ``"READY=1"``) to ``$NOTIFY_SOCKET``.

    Returns True when the datagram was sent, False when there is no socket or
    the send failed (logged once per socket and failure kind, never raised).
    """
    if not message:
        raise ValueError("notify() needs a message such as 'READY=1'")
    return _send(os.environ.get("NOTIFY_SOCKET", ""), message)


class Notifier:
    """The gateway's handle on systemd: readiness, status line, watchdog.

    The environment is read once, at construction, so tests can pass their own
    ``environ`` and ``pid`` and a later change of ``os.environ`` cannot
    redirect the pings.
    """

    def __init__(self, environ: Mapping[str, str] | None = None, pid: int | None = None) -> None:
        env = os.environ if environ is None else environ
        self._address = env.get("NOTIFY_SOCKET", "")
        self._watchdog_usec = env.get("WATCHDOG_USEC", "")
        self._watchdog_pid = env.get("WATCHDOG_PID", "")
        self._pid = os.getpid() if pid is None else pid

    @property
    def enabled(self) -> bool:
        """True when a notify socket was given (we run under systemd Type=notify)."""
        return bool(self._address)

    def notify(self, message: str) -> bool:
        if not message:
            raise ValueError("notify() needs a message such as 'READY=1'")
        return _send(self._address, message)

    def ready(self, status: str | None = None) -> bool:
        """Startup is done: systemd marks the unit active and starts its dependents."""
        return self.notify("READY=1" if status is None else f"READY=1\n{_status_line(status)}")

    def stopping(self) -> bool:
        """Shutdown has begun, so systemd shows "deactivating" and does not restart us yet."""
        return self.notify("STOPPING=1")

    def status(self, text: str) -> bool:
        """Set the free-form line `systemctl status` shows (newlines are flattened)."""
        return self.notify(_status_line(text))

    def watchdog(self) -> bool:
        """One keep-alive ping; systemd kills the service when they stop for WatchdogSec."""
        return self.notify("WATCHDOG=1")

    def watchdog_interval(self) -> float | None:
        """Seconds between pings (half of WatchdogSec), or None when no watchdog applies.

        Follows sd_watchdog_enabled(3): ``$WATCHDOG_USEC`` must be a positive
        integer, and when ``$WATCHDOG_PID`` is set it must be our pid (the
        variables leak into children, which must not ping for us).
        """
        if not self._watchdog_usec:
            return None
        try:
            usec = int(self._watchdog_usec)
        except ValueError:
            usec = 0
        if usec <= 0:
            _report_once(self._address, "bad_watchdog_usec", value=self._watchdog_usec)
            return None
        if self._watchdog_pid:
            try:
                owner = int(self._watchdog_pid)
            except ValueError:
                owner = -1
            if owner != self._pid:
                return None
        return usec / 2_000_000

    async def run_watchdog(self, is_healthy: Callable[[], bool]) -> None:
        """Ping WATCHDOG=1 every interval for as long as ``is_healthy()`` says so.

        Run it as a task beside the others: a wedged event loop cannot run it,
        and a health check that turns False (say, a dead stream writer)
        withholds the pings, so systemd restarts the process either way. The
        first ping goes out at once (and arms systemd's timer, even before
        READY=1), so ``is_healthy`` must be true while starting up. Returns at
        once when no watchdog is set.
        """
        interval = self.watchdog_interval()
        if interval is None or not self.enabled:
            return
        log.info("watchdog_started", interval_s=interval)
        withheld = False
        while True:
            healthy = _check(is_healthy)
            if healthy:
                self.watchdog()
                if withheld:
                    log.info("watchdog_resumed")
            elif not withheld:
                log.error("watchdog_withheld", hint="systemd restarts us unless health returns")
            withheld = not healthy
            await asyncio.sleep(interval)


def settle_heap() -> int:
    """Move what start-up built (modules, settings, the app) out of the collector's reach.

    Measured in the web tier under the e2e-latency load: each full collection
    walked every object of its imports, a stall every client saw; frozen, a full
    collection is several times shorter (docs/performance.md). What is frozen
    lives for the whole process anyway. Returns the number of objects frozen.
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def _status_line(text: str) -> str:
    # A newline would start another KEY=value assignment (say, READY=1).
    flat = " ".join(text.split())
    return "STATUS=" + flat[:STATUS_MAX_CHARS]


def _check(is_healthy: Callable[[], bool]) -> bool:
    try:
        return bool(is_healthy())
    except Exception:  # a broken health check is unhealthy, not a crashed pinger
        log.exception("watchdog_health_check_failed")
        return False


def _force_exit(signum: int) -> NoReturn:
    os._exit(128 + signum)


def install_signal_handlers(
    loop: asyncio.AbstractEventLoop,
    stop: asyncio.Event,
    *,
    force_exit: Callable[[int], object] = _force_exit,
) -> Callable[[], None]:
    """SIGTERM/SIGINT set ``stop``; a second one exits at once. Returns an uninstaller.

    The first signal only sets the event, so the shutdown runs as ordinary
    tasks in its documented order. A second signal
    means whoever sent it has stopped waiting (Ctrl-C twice, `systemctl kill`):
    we log ``forced_exit`` and call ``os._exit(128 + signum)`` without running
    cleanup. What is in Redis or the SQLite spool stays; only records the
    stream writer still holds in memory are lost. systemd itself sends SIGTERM
    once and SIGKILL after TimeoutStopSec, so this path is for people.
    ``force_exit`` is injectable for tests.
    """
    signals = (signal.SIGTERM, signal.SIGINT)
    received: list[int] = []  # count signals, not stop.is_set(): the app may set stop itself

    def on_signal(signum: int) -> None:
        name = signal.Signals(signum).name
        received.append(signum)
        if len(received) == 1:
            log.info("shutdown_requested", signal=name)
            stop.set()
            return
        log.warning(
            "forced_exit",
            signal=name,
            exit_status=128 + signum,
            reason="second signal during shutdown",
        )
        force_exit(signum)

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)

    def uninstall() -> None:
        for sig in signals:
            loop.remove_signal_handler(sig)

    return uninstall


def run_until_signal(serve: Callable[[Awaitable[object]], Awaitable[None]]) -> None:
    """Run ``serve(stop)`` on uvloop until SIGTERM/SIGINT completes ``stop``.

    The one way the daemons are run: ``serve`` gets an awaitable that finishes
    at the first signal (a second exits at once, see install_signal_handlers).
    """
    import uvloop

    async def main() -> None:
        stop = asyncio.Event()
        uninstall = install_signal_handlers(asyncio.get_running_loop(), stop)
        try:
            await serve(stop.wait())
        finally:
            uninstall()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
