"""vda-5050-lib (coatyio, npm, MIT) under node: a VDA 5050 AGV and master control nobody here wrote.

The package is installed from the npm registry with ``npm ci`` into a cache
outside the repository, keyed by the lockfile in ``vda5050_lib/`` (ROBODINE_NPM_CACHE,
default ~/.cache/robodine/npm), once; scripts/setup does it ahead of time:

    python -m tests.thirdparty.vdalib --install

``NodeParty`` runs ``vda5050_lib/driver.js`` in one role (agv, master, validate)
and reads its JSON lines; tests wait for the events they expect.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

HERE: Final = Path(__file__).resolve().parent / "vda5050_lib"
DRIVER: Final = HERE / "driver.js"
LIB_VERSION: Final = "1.4.0"


def cache_dir() -> Path:
    lock = hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()[:12]
    root = Path(os.environ.get("ROBODINE_NPM_CACHE", Path.home() / ".cache" / "robodine" / "npm"))
    return root / f"vda-5050-lib-{LIB_VERSION}-{lock}"


def node_modules() -> Path:
    return cache_dir() / "node_modules"


def installed() -> bool:
    return (node_modules() / "vda-5050-lib" / "package.json").exists()


def install() -> Path:
    """``npm ci`` into the cache (atomically: a half-done install is never used)."""
    if installed():
        return node_modules()
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"{tool} is not installed: run scripts/setup (Debian nodejs, npm)")
    target = cache_dir()
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".install-", dir=target.parent))
    try:
        for name in ("package.json", "package-lock.json"):
            shutil.copy(HERE / name, work / name)
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=work,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            raise RuntimeError(
                f"npm ci of vda-5050-lib {LIB_VERSION} failed: {done.stderr.strip()[-800:]}"
            )
        with contextlib.suppress(OSError):  # another process may have won the race
            work.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return node_modules()


class NodeParty:
    """One driver.js process. ``events`` holds everything it said, in order."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.events: list[dict[str, Any]] = []
        self.stderr = b""
        self._proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    async def start(self, timeout: float = 20.0) -> NodeParty:
        env = {**os.environ, "NODE_PATH": str(node_modules())}
        self._proc = await asyncio.create_subprocess_exec(
            "node",
            str(DRIVER),
            json.dumps(self.config),
            env=env,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        await self.wait("ready", timeout=timeout)
        return self

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        async for line in self._proc.stdout:
            with contextlib.suppress(ValueError):
                self.events.append(json.loads(line))
                self._changed.set()
        self._changed.set()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    async def send(self, msg: dict[str, Any]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(msg).encode() + b"\n")
        await self._proc.stdin.drain()

    def seen(self, event: str | tuple[str, ...], **match: Any) -> list[dict[str, Any]]:
        events = (event,) if isinstance(event, str) else event
        return [
            e
            for e in self.events
            if e.get("event") in events and all(e.get(k) == v for k, v in match.items())
        ]

    async def wait(
        self,
        event: str | tuple[str, ...],
        *,
        timeout: float = 10.0,
        where: Callable[[dict[str, Any]], bool] | None = None,
        **match: Any,
    ) -> dict[str, Any]:
        """The first ``event`` (matching ``match`` and ``where``) said so far or within
        ``timeout``; a driver that dies or says "fatal" fails at once, with its stderr."""
        deadline = time.monotonic() + timeout
        while True:
            for e in self.seen(event, **match):
                if where is None or where(e):
                    return e
            fatal = self.seen("fatal")
            if fatal or (self._proc is not None and self._proc.returncode is not None):
                await self._drain_stderr()
                raise AssertionError(
                    f"vda-5050-lib {self.config['role']} ended: {fatal} "
                    f"{self.stderr.decode(errors='replace')[-1500:]}"
                )
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"no {event} {match} within {timeout} s; last events: {self.events[-8:]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(left, 0.5))

    async def _drain_stderr(self) -> None:
        if self._proc is not None and self._proc.stderr is not None:
            with contextlib.suppress(TimeoutError):
                self.stderr += await asyncio.wait_for(self._proc.stderr.read(), 2)

    def kill(self) -> None:
        """SIGKILL: the broker sees the socket close without a DISCONNECT (the last will)."""
        if self.running:
            assert self._proc is not None
            self._proc.send_signal(signal.SIGKILL)

    async def close(self) -> None:
        if self.running:
            with contextlib.suppress(ConnectionError, AssertionError):
                await self.send({"cmd": "stop"})
                await self.wait("stopped", timeout=5)
        self.kill()
        if self._proc is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._proc.wait(), 5)
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader

    async def __aenter__(self) -> NodeParty:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Validator:
    """The library's own schema validators, for a message in a version (1.1.0 or 2.0.0)."""

    def __init__(self) -> None:
        self.party = NodeParty({"role": "validate", "version": "2.0.0"})
        self._answers = 0

    async def check(self, topic: str, version: str, obj: Any) -> str | None:
        """None if valid, else the library's complaint."""
        await self.party.send({"topic": topic, "version": version, "object": obj})
        self._answers += 1
        n = self._answers
        await self.party.wait("valid", where=lambda _: len(self.party.seen("valid")) >= n)
        answer = self.party.seen("valid")[n - 1]
        return None if answer["ok"] else str(answer["error"])


def main() -> int:
    if sys.argv[1:] != ["--install"]:
        print("usage: python -m tests.thirdparty.vdalib --install", file=sys.stderr)
        return 2
    try:
        print(install())
    except RuntimeError as exc:
        print(f"vda-5050-lib: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
