"""Libraries' own log lines (aiohttp, alembic, asyncio) are JSON lines in the journal too."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import structlog
from aiohttp import web

from config.logging import configure_logging
from config.settings import DatabaseSettings
from tests.servers import free_port
from web.db.migrate import upgrade
from web.db.session import create_engine


@pytest.fixture
def json_logs() -> Iterator[None]:
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    configure_logging("info", "json", cache=False)
    try:
        yield
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


def _lines(err: str) -> list[dict[str, Any]]:
    out = []
    for line in err.splitlines():
        assert line.startswith("{"), f"a line that is not JSON: {line!r}"
        out.append(orjson.loads(line))
    return out


async def test_aiohttp_alembic_and_asyncio_lines_are_json(
    json_logs: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(text="hi")

    app = web.Application()
    app.router.add_get("/", hello)
    runner = web.AppRunner(app, access_log=logging.getLogger("aiohttp.access"))
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/?token=x"):
            pass
    finally:
        await runner.cleanup()
    engine = create_engine(DatabaseSettings(url=f"sqlite+aiosqlite:///{tmp_path}/l.sqlite3"))
    await upgrade(engine)
    await engine.dispose()
    logging.getLogger("asyncio").warning("Executing %s took %.3f seconds", "<Task>", 0.25)
    lines = _lines(capsys.readouterr().err)
    by = {line.get("logger"): line for line in lines}
    access = by["aiohttp.access"]
    assert access["level"] == "info" and "GET /" in access["event"]
    assert access["timestamp"].endswith("Z")
    assert any(line.get("logger", "").startswith("alembic") for line in lines)
    assert by["asyncio"]["event"] == "Executing <Task> took 0.250 seconds"
    assert by["asyncio"]["level"] == "warning"


def test_a_library_exception_is_one_json_line(
    json_logs: None, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        raise ValueError("broken pipe of a library")
    except ValueError:
        logging.getLogger("aiomqtt").exception("client failed", extra={"password": "hunter2"})
    (line,) = _lines(capsys.readouterr().err)
    assert line["logger"] == "aiomqtt" and line["level"] == "error"
    assert "ValueError: broken pipe of a library" in line["exception"]
    assert "hunter2" not in str(line)
