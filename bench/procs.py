"""Processes the benchmark starts, and what it reads about them from /proc.

CPU time comes from /proc/<pid>/stat (utime + stime), memory from
/proc/<pid>/status (VmRSS now, VmHWM the peak), so no dependency is needed
and nothing is sampled inside the measured process.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from robodine.testing.servers import log_tail, wait_port

_TICKS = os.sysconf("SC_CLK_TCK")


def raise_fd_limit() -> None:
    """A thousand robot connections need more than the usual 1024 descriptors (children inherit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard > 0 else 65536, hard))


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of ``pid`` (its threads included)."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        raw = f.read()
    fields = raw[raw.rindex(b")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def memory_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in KiB: resident memory now and its peak."""
    rss = hwm = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
            elif line.startswith("VmHWM:"):
                hwm = int(line.split()[1])
    return rss, hwm


def udp_kernel_drops() -> int:
    """System-wide UDP RcvbufErrors: datagrams the kernel dropped (a socket buffer was full)."""
    with open("/proc/net/snmp") as f:
        rows = [line.split() for line in f if line.startswith("Udp:")]
    header, values = rows[0], rows[1]
    return int(values[header.index("RcvbufErrors")])


@dataclass
class CpuWindow:
    """CPU use of some processes between ``start()`` and ``stop()``, as % of one core."""

    pids: dict[str, int]

    def start(self) -> CpuWindow:
        self._t0 = time.perf_counter()
        self._c0 = {name: _cpu_or_zero(pid) for name, pid in self.pids.items()}
        return self

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        return {
            name: round(100.0 * (_cpu_or_zero(pid) - self._c0[name]) / wall, 1)
            for name, pid in self.pids.items()
        }


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:
        return 0.0


class Service:
    """A child process (server, gateway, web tier) with its log in a file.

    ``peak_rss_mb`` is read while it is still running (the last read is kept
    after it stops), because /proc forgets a process once it is reaped.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log: Path,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self._peak_kb = 0
        self._rss_kb = 0

    @property
    def pid(self) -> int:
        assert self.proc is not None, f"{self.name} not started"
        return self.proc.pid

    def start(self) -> Service:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def sample_memory(self) -> tuple[float, float]:
        """(RSS now, peak RSS) in MB; also remembered for after the process is gone."""
        if self.alive():
            with contextlib.suppress(OSError):
                self._rss_kb, hwm = memory_kb(self.pid)
                self._peak_kb = max(self._peak_kb, hwm)
        return self._rss_kb / 1024, self._peak_kb / 1024

    @property
    def peak_rss_mb(self) -> float:
        return self.sample_memory()[1]

    def wait_port(self, port: int, timeout: float = 20.0) -> None:
        """Wait until something accepts TCP connections on ``port`` (raise with the log tail)."""
        assert self.proc is not None, f"{self.name} not started"
        wait_port(port, self.proc, timeout, name=self.name, log=self.log_path)

    def log_tail(self, lines: int = 15) -> str:
        return log_tail(self.log_path, lines)

    def stop(self, timeout: float = 10.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; returns the exit status."""
        if self.proc is None:
            return None
        self.sample_memory()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def robodine_argv(*args: str) -> list[str]:
    """`robodine ARGS` run by this interpreter (works without the console script on PATH)."""
    return [sys.executable, "-m", "robodine", *args]


def child_env(**extra: str) -> dict[str, str]:
    """The environment for our children, without the caller's ROBODINE_* settings:
    the generated config file alone decides what the measured processes do."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBODINE_")}
    env.update(extra)
    return env
