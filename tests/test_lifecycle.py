"""robodine.lifecycle against a real AF_UNIX datagram socket standing in for systemd."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import orjson
import pytest
import uvloop
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

from robodine import lifecycle
from robodine.lifecycle import STATUS_MAX_CHARS, Notifier, install_signal_handlers, notify

REPO = Path(__file__).resolve().parents[2]


class Manager:
    """The service manager's end: a bound SOCK_DGRAM socket we read datagrams from."""

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.sock = sock
        self.address = address  # what goes into $NOTIFY_SOCKET

    def recv(self, timeout: float = 2.0) -> bytes:
        self.sock.settimeout(timeout)
        return self.sock.recv(4096)

    def pending(self) -> list[bytes]:
        """Every datagram already queued, without waiting."""
        self.sock.setblocking(False)
        out = []
        try:
            while True:
                out.append(self.sock.recv(4096))
        except BlockingIOError:
            return out


@pytest.fixture(autouse=True)
def _fresh_reports() -> Iterator[None]:
    lifecycle._reported.clear()
    yield
    lifecycle._reported.clear()


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[Manager]:
    path = tmp_path / "notify"
    assert len(str(path)) < 100, "AF_UNIX paths are limited to 108 bytes"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))
        yield Manager(sock, str(path))


@pytest.fixture
def abstract_manager() -> Iterator[Manager]:
    name = f"robodine-test-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        yield Manager(sock, "@" + name)


# --- notify() -------------------------------------------------------------------------------


def test_notify_without_socket_is_a_noop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    with capture_logs() as logs:
        assert notify("READY=1") is False
    assert logs == []


def test_notify_sends_exact_datagram_to_path_socket(
    manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", manager.address)
    assert notify("READY=1") is True
    assert manager.recv() == b"READY=1"


def test_notify_reaches_abstract_socket(
    abstract_manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", abstract_manager.address)
    assert notify("STATUS=abstract ok") is True
    assert abstract_manager.recv() == b"STATUS=abstract ok"


def test_notify_missing_socket_returns_false_and_logs_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = tmp_path / "no-such-socket"
    monkeypatch.setenv("NOTIFY_SOCKET", str(gone))
    with capture_logs() as logs:
        assert notify("WATCHDOG=1") is False
        assert notify("WATCHDOG=1") is False
    assert logs == [
        {
            "event": "sd_notify_failed",
            "log_level": "warning",
            "notify_socket": str(gone),
            "reason": "FileNotFoundError",
            "error": "[Errno 2] No such file or directory",
        }
    ]


def test_notify_to_a_socket_nobody_reads_is_refused_not_raised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "stale"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(str(path))  # bound then closed: the file stays, nobody listens
    monkeypatch.setenv("NOTIFY_SOCKET", str(path))
    with capture_logs() as logs:
        assert notify("READY=1") is False
    assert [(e["event"], e["reason"]) for e in logs] == [
        ("sd_notify_failed", "ConnectionRefusedError")
    ]


@pytest.mark.parametrize("address", ["relative/notify", "vsock:2:1234", "x"])
def test_notify_unsupported_address_is_reported(
    address: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    with capture_logs() as logs:
        assert notify("READY=1") is False
    assert [(e["event"], e["reason"], e["notify_socket"]) for e in logs] == [
        ("sd_notify_failed", "unsupported_address", address)
    ]


def test_notify_empty_message_is_a_programming_error(manager: Manager) -> None:
    with pytest.raises(ValueError, match="needs a message"):
        notify("")
    with pytest.raises(ValueError, match="needs a message"):
        Notifier({"NOTIFY_SOCKET": manager.address}).notify("")


# --- Notifier -------------------------------------------------------------------------------


def test_notifier_sends_exact_datagrams(manager: Manager) -> None:
    n = Notifier({"NOTIFY_SOCKET": manager.address})
    assert n.enabled
    assert n.ready() is True
    assert n.status("3 robots online") is True
    assert n.watchdog() is True
    assert n.stopping() is True
    assert n.ready(status="serving") is True
    assert [manager.recv() for _ in range(5)] == [
        b"READY=1",
        b"STATUS=3 robots online",
        b"WATCHDOG=1",
        b"STOPPING=1",
        b"READY=1\nSTATUS=serving",
    ]


def test_notifier_reads_environment_once(manager: Manager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFY_SOCKET", manager.address)
    n = Notifier()
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/elsewhere")
    assert n.watchdog() is True
    assert manager.recv() == b"WATCHDOG=1"


def test_notifier_disabled_without_socket() -> None:
    n = Notifier({})
    assert not n.enabled
    assert (n.ready(), n.stopping(), n.status("x"), n.watchdog()) == (False, False, False, False)


def test_status_cannot_inject_another_assignment(manager: Manager) -> None:
    n = Notifier({"NOTIFY_SOCKET": manager.address})
    n.status("robot r1 said\nREADY=1\r\nMAINPID=1")
    assert manager.recv() == b"STATUS=robot r1 said READY=1 MAINPID=1"
    n.status("x" * 5000)
    assert manager.recv() == b"STATUS=" + b"x" * STATUS_MAX_CHARS


@settings(max_examples=60, deadline=None)
@given(st.text())
def test_status_is_always_one_bounded_line(text: str) -> None:
    name = f"robodine-prop-{uuid.uuid4().hex}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(2)
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).status(text) is True
        got = sock.recv(65536).decode()
    assert got.startswith("STATUS=")
    assert "\n" not in got
    assert len(got) <= len("STATUS=") + STATUS_MAX_CHARS
    assert got[len("STATUS=") :] == " ".join(text.split())[:STATUS_MAX_CHARS]


# --- watchdog_interval ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"WATCHDOG_USEC": "10000000"}, 5.0),  # WatchdogSec=10 -> ping every 5 s
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4242"}, 5.0),
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "4243"}, None),  # meant for another pid
        ({"WATCHDOG_USEC": "10000000", "WATCHDOG_PID": "nope"}, None),
        ({"WATCHDOG_USEC": "3"}, 1.5e-6),
    ],
)
def test_watchdog_interval(env: dict[str, str], expected: float | None) -> None:
    assert Notifier(env, pid=4242).watchdog_interval() == expected


def test_watchdog_pid_defaults_to_our_own_pid() -> None:
    env = {"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": str(os.getpid())}
    assert Notifier(env).watchdog_interval() == 1.0
    env["WATCHDOG_PID"] = str(os.getpid() + 1)
    assert Notifier(env).watchdog_interval() is None


@pytest.mark.parametrize("usec", ["0", "-5", "ten", "1.5"])
def test_bad_watchdog_usec_means_no_watchdog_and_is_logged(usec: str) -> None:
    with capture_logs() as logs:
        assert Notifier({"WATCHDOG_USEC": usec}).watchdog_interval() is None
    assert [(e["event"], e["reason"], e["value"]) for e in logs] == [
        ("sd_notify_failed", "bad_watchdog_usec", usec)
    ]


# --- run_watchdog ---------------------------------------------------------------------------


async def test_run_watchdog_returns_at_once_without_watchdog(manager: Manager) -> None:
    await asyncio.wait_for(
        Notifier({"NOTIFY_SOCKET": manager.address}).run_watchdog(lambda: True), 1
    )
    # WATCHDOG_USEC without a socket: nobody to ping.
    await asyncio.wait_for(Notifier({"WATCHDOG_USEC": "20000"}).run_watchdog(lambda: True), 1)
    # A watchdog meant for another process.
    other = {"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "20000", "WATCHDOG_PID": "1"}
    await asyncio.wait_for(Notifier(other, pid=2).run_watchdog(lambda: True), 1)
    assert manager.pending() == []


async def test_run_watchdog_pings_while_healthy_and_withholds_when_not(manager: Manager) -> None:
    env = {"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "40000"}  # ping every 20 ms
    healthy = True
    with capture_logs() as logs:
        task = asyncio.create_task(Notifier(env).run_watchdog(lambda: healthy))
        await asyncio.sleep(0.15)
        pinged = manager.pending()
        healthy = False
        await asyncio.sleep(0.03)  # let a ping already due go out
        manager.pending()
        await asyncio.sleep(0.15)
        while_sick = manager.pending()
        healthy = True
        await asyncio.sleep(0.1)
        after = manager.pending()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert len(pinged) >= 3
    assert set(pinged) == {b"WATCHDOG=1"}
    assert while_sick == []
    assert after
    assert set(after) == {b"WATCHDOG=1"}
    assert [e["event"] for e in logs] == [
        "watchdog_started",
        "watchdog_withheld",
        "watchdog_resumed",
    ]
    assert logs[0]["interval_s"] == 0.02


async def test_run_watchdog_first_ping_is_immediate(manager: Manager) -> None:
    env = {"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "60000000"}  # 30 s interval
    task = asyncio.create_task(Notifier(env).run_watchdog(lambda: True))
    try:
        assert await asyncio.to_thread(manager.recv, 2.0) == b"WATCHDOG=1"
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_run_watchdog_treats_a_raising_health_check_as_unhealthy(manager: Manager) -> None:
    env = {"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "40000"}

    def broken() -> bool:
        raise RuntimeError("writer state unreadable")

    with capture_logs() as logs:
        task = asyncio.create_task(Notifier(env).run_watchdog(broken))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert manager.pending() == []
    events = [e["event"] for e in logs]
    assert "watchdog_health_check_failed" in events
    assert events.count("watchdog_withheld") == 1


def test_run_watchdog_under_uvloop(manager: Manager) -> None:
    env = {"NOTIFY_SOCKET": manager.address, "WATCHDOG_USEC": "40000"}

    async def main() -> None:
        task = asyncio.create_task(Notifier(env).run_watchdog(lambda: True))
        await asyncio.sleep(0.07)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    assert len(manager.pending()) >= 2


# --- signals --------------------------------------------------------------------------------


async def _signal_round(
    sig: signal.Signals,
) -> tuple[asyncio.Event, list[int], list[MutableMapping[str, Any]]]:
    stop = asyncio.Event()
    forced: list[int] = []
    uninstall = install_signal_handlers(asyncio.get_running_loop(), stop, force_exit=forced.append)
    try:
        with capture_logs() as logs:
            os.kill(os.getpid(), sig)
            await asyncio.wait_for(stop.wait(), 2)
            assert forced == []
            os.kill(os.getpid(), sig)
            for _ in range(100):
                if forced:
                    break
                await asyncio.sleep(0.01)
    finally:
        uninstall()
    return stop, forced, logs


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_first_signal_sets_stop_second_forces_exit(sig: signal.Signals) -> None:
    stop, forced, logs = await _signal_round(sig)
    assert stop.is_set()
    assert forced == [sig]
    assert logs == [
        {"event": "shutdown_requested", "log_level": "info", "signal": sig.name},
        {
            "event": "forced_exit",
            "log_level": "warning",
            "signal": sig.name,
            "exit_status": 128 + sig,
            "reason": "second signal during shutdown",
        },
    ]


async def test_stop_set_by_the_app_does_not_make_the_first_signal_fatal() -> None:
    stop = asyncio.Event()
    stop.set()  # e.g. a fatal error already began the shutdown
    forced: list[int] = []
    uninstall = install_signal_handlers(asyncio.get_running_loop(), stop, force_exit=forced.append)
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
    finally:
        uninstall()
    assert forced == []


async def test_uninstall_restores_default_handlers() -> None:
    uninstall = install_signal_handlers(asyncio.get_running_loop(), asyncio.Event())
    uninstall()
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_second_signal_really_exits_with_128_plus_signum() -> None:
    """The real os._exit path, in a child process running uvloop like the daemon."""
    script = textwrap.dedent("""
        import asyncio, os, signal, uvloop
        from config.logging import configure_logging
        from robodine.lifecycle import install_signal_handlers

        configure_logging("info", "json")  # as under systemd: JSON lines on stderr

        async def main():
            stop = asyncio.Event()
            install_signal_handlers(asyncio.get_running_loop(), stop)
            os.kill(os.getpid(), signal.SIGINT)
            await stop.wait()
            print("stopping", flush=True)
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(5)
            print("cleanup ran", flush=True)

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as r:
            r.run(main())
    """)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=20,
        check=False,
    )
    assert proc.returncode == 128 + signal.SIGINT, proc.stderr
    assert proc.stdout == "stopping\n"  # no cleanup ran after the forced exit
    events = [orjson.loads(line) for line in proc.stderr.splitlines()]
    assert [(e["event"], e["signal"]) for e in events] == [
        ("shutdown_requested", "SIGINT"),
        ("forced_exit", "SIGINT"),
    ]
    assert events[1]["exit_status"] == 130


def test_settle_heap_freezes_what_start_up_built_and_later_garbage_is_still_collected() -> None:
    # In a child: freezing the test process's heap would outlive this test.
    code = """
import gc, weakref
import web.app
from robodine.lifecycle import settle_heap
frozen = settle_heap()
class Node: pass
a, b = Node(), Node()
a.other, b.other = b, a
gone = weakref.ref(a)
del a, b
gc.collect()
print(frozen, gc.get_freeze_count() == frozen, gone() is None)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    frozen, same, collected = out.stdout.split()
    assert int(frozen) > 50_000  # the web tier's imports
    assert same == "True" and collected == "True"
