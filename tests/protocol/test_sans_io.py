"""protocol/ stays sans-IO: importing all of it pulls in no I/O or clock machinery."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import protocol

# `time` itself is imported by `datetime` (VDA 5050 timestamps); reading the
# clock is what is forbidden, and the source scan below catches that.
FORBIDDEN = (
    "asyncio",
    "socket",
    "redis",
    "aiomqtt",
    "paho",
    "aiohttp",
    "structlog",
    "logging",
    "selectors",
    "ssl",
    "uvloop",
    "sqlalchemy",
)


def test_protocol_imports_no_io() -> None:
    modules = [m.name for m in pkgutil.walk_packages(protocol.__path__, "protocol.")]
    assert "protocol.tcp" in modules and "protocol.udp" in modules
    code = (
        "import sys, importlib\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"bad = [m for m in {FORBIDDEN!r} if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"protocol imports {out.stdout.strip()}"


def test_no_clock_reads_in_protocol_sources() -> None:
    import pathlib

    for path in pathlib.Path(protocol.__path__[0]).rglob("*.py"):
        text = path.read_text()
        for call in ("time.time(", "time.monotonic(", "datetime.now(", "asyncio."):
            assert call not in text, f"{path} calls {call}"
