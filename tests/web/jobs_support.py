"""Real processes for the media, jobs and webhooks tests: an S3-compatible server (moto's
server mode), `robodine worker` processes, and settings shared by the web app and workers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from tests.servers import MotoServer, free_port
from tests.support.web import DATA_KEY, SECRET

REPO = Path(__file__).resolve().parents[2]
WEBHOOK_MASTER = "analysis-master-" + "m" * 40


class S3Server(MotoServer):
    """The S3 server with the buckets the tests use."""

    def create_bucket(self, name: str) -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket=name)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[S3Server]:
    server = S3Server()
    server.start()
    yield server
    server.close()


def s3_media(moto: MotoServer, bucket: str) -> dict[str, Any]:
    return {
        "url": f"s3://{bucket}/media",
        "s3_endpoint": moto.url,
        "s3_access_key": "test",
        "s3_secret_key": "test",
        "s3_region": "us-east-1",
    }


def fast_jobs(**more: Any) -> dict[str, Any]:
    """Job settings that show crashes and retries in seconds, not minutes."""
    return {
        "heartbeat_s": 1,
        "sweep_s": 1,
        "retry_delay_s": 0.2,
        "retry_max_delay_s": 1.0,
        "webhook_secret": WEBHOOK_MASTER,
        **more,
    }


def _env_value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def process_env(redis_url: str, db_url: str, **sections: dict[str, Any]) -> dict[str, str]:
    """The environment a `robodine` process needs for the same settings as web_settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBODINE_")}
    env.update(
        {
            "ROBODINE_REDIS_URL": redis_url,
            "ROBODINE_DATABASE_URL": db_url,
            "ROBODINE_DATA_KEY": DATA_KEY,
            "ROBODINE_WEB_SECRET": SECRET,
            "ROBODINE_LOGGING_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
        }
    )
    for section, values in sections.items():
        for key, value in values.items():
            env[f"ROBODINE_{section.upper()}_{key.upper()}"] = _env_value(value)
    return env


class RobodineProcess:
    """`python -m robodine COMMAND` with its log in a file; kill -9 or stop, restart."""

    def __init__(self, command: str, env: dict[str, str], cwd: Path) -> None:
        self.command = command
        self.env = env
        self.cwd = cwd
        self.proc: subprocess.Popen[bytes] | None = None
        self.logfile = cwd / f"{command}-{free_port()}.log"

    def start(self) -> RobodineProcess:
        with self.logfile.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "robodine", self.command],
                cwd=self.cwd,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        return self.logfile.read_text(errors="replace")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self, timeout: float = 15) -> int | None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode if self.proc else None

    async def wait_log(self, text: str, timeout: float = 30) -> None:
        """Until ``text`` is in the log (polled without holding the test's event loop)."""
        deadline = time.monotonic() + timeout
        while text not in self.log():
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"{self.command} exited {self.proc.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no {text!r} in the {self.command} log:\n{self.log()[-3000:]}"
                )
            await asyncio.sleep(0.05)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[[str, dict[str, str]], RobodineProcess]]:
    """Start robodine processes; every one is killed at the end of the test."""
    started: list[RobodineProcess] = []

    def start(command: str, env: dict[str, str]) -> RobodineProcess:
        p = RobodineProcess(command, env, tmp_path).start()
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()


@contextlib.asynccontextmanager
async def http_server(app: web.Application) -> AsyncIterator[str]:
    """An aiohttp server of the test's own on a free loopback port; yields its base URL."""
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def multipart(data: bytes | Any, content_type: str, filename: str = "f.bin") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data, content_type=content_type, filename=filename)
    return form
