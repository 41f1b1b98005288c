"""HTTP behaviour every route shares: problem+json, size limit, CORS, gzip, probes, request ids."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
import structlog

from config.logging import configure_logging
from tests.servers import RedisServer
from tests.support.web import ORIGIN, MakeEnv, WebEnv
from tests.waiting import wait_for


async def test_invalid_json_is_400(env: WebEnv) -> None:
    r = await env.client.post(
        "/api/todos", headers={**env.auth(), "Content-Type": "application/json"}, data=b'{"title": '
    )
    assert r.status == 400
    assert r.content_type == "application/problem+json"
    body = await r.json()
    assert (
        body["code"] == "invalid_json"
        and body["status"] == 400
        and body["instance"] == "/api/todos"
    )


async def test_empty_body_and_wrong_content_type(env: WebEnv) -> None:
    r = await env.client.post(
        "/api/todos", headers={**env.auth(), "Content-Type": "application/json"}
    )
    assert r.status == 400 and (await r.json())["code"] == "invalid_json"
    r = await env.client.post(
        "/api/todos", headers={**env.auth(), "Content-Type": "text/plain"}, data=b'{"title": "x"}'
    )
    assert r.status == 415 and (await r.json())["code"] == "unsupported_media_type"


async def test_a_json_array_is_not_an_object(env: WebEnv) -> None:
    r = await env.client.post("/api/todos", headers=env.auth(), json=[{"title": "x"}])
    assert r.status == 422


async def test_oversized_bodies_are_413_declared_or_streamed(make_env: MakeEnv) -> None:
    env = await make_env(web={"max_body_bytes": 1024})
    big = b'{"title": "' + b"x" * 2000 + b'"}'
    r = await env.client.post(
        "/api/todos", headers={**env.auth(), "Content-Type": "application/json"}, data=big
    )
    assert r.status == 413
    assert (await r.json())["code"] == "body_too_large"

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield b"x" * 600

    r = await env.client.post(
        "/api/todos", headers={**env.auth(), "Content-Type": "application/json"}, data=chunks()
    )
    assert r.status == 413


async def test_every_route_answers_through_the_edge(env: WebEnv) -> None:
    """A route added without Edge.add_route would answer without these (web/http/edge.py); an
    API route's caching is decided when it is added: no-store unless its handler chose."""
    checked = 0
    for route in env.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path")
        if route.method != "GET" or path is None or path.startswith(("/ws/", "/api/stream/")):
            continue  # parameterised paths, feeds (their own test), the fallback
        r = await env.client.get(path, headers={**env.auth(), "Origin": ORIGIN})
        assert r.headers.get("X-Request-ID"), path
        assert r.headers["X-Content-Type-Options"] == "nosniff", path
        assert r.headers["Access-Control-Allow-Origin"] == ORIGIN, path
        if path.startswith("/api/"):
            assert r.headers["Cache-Control"] in ("no-store", "no-cache"), path
        r.close()
        checked += 1
    assert checked >= 15


async def test_unknown_route_and_method(env: WebEnv) -> None:
    r = await env.client.get("/api/nothing-here", headers=env.auth())
    assert r.status == 404 and r.content_type == "application/problem+json"
    assert (await r.json())["detail"] == "nothing at /api/nothing-here"
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["X-Request-ID"]
    r = await env.client.put("/api/todos", headers=env.auth(), json={})
    assert r.status == 405 and r.content_type == "application/problem+json"
    assert (await r.json())["code"] == "method_not_allowed"
    assert "GET" in r.headers["Allow"] and "POST" in r.headers["Allow"]
    assert r.headers["Cache-Control"] == "no-store" and r.headers["X-Request-ID"]
    r = await env.client.options("/api/todos")  # not a CORS preflight: no such method here
    assert r.status == 405 and "OPTIONS" not in r.headers["Allow"]
    r = await env.client.delete("/api/robots/wok-1/telemetry", headers=env.auth())
    assert r.status == 405 and r.headers["Allow"] == "GET"


async def test_unknown_query_parameters_are_422(env: WebEnv) -> None:
    r = await env.client.get("/api/robots", headers=env.auth(), params={"page": "2"})
    assert r.status == 422 and (await r.json())["field"] == "page"


async def test_cors_preflight_only_for_configured_origins(env: WebEnv) -> None:
    r = await env.client.options(
        "/api/todos",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization, content-type",
        },
    )
    assert r.status == 204
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in r.headers["Access-Control-Allow-Headers"]
    assert "Origin" in r.headers["Vary"]
    assert "Access-Control-Allow-Credentials" not in r.headers
    r = await env.client.options(
        "/api/todos",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert r.status == 403
    assert "Access-Control-Allow-Origin" not in r.headers


async def test_cors_headers_never_wildcard(env: WebEnv) -> None:
    r = await env.client.get("/api/robots", headers={**env.auth(), "Origin": ORIGIN})
    assert r.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Origin" in r.headers["Vary"]
    r = await env.client.get(
        "/api/robots", headers={**env.auth(), "Origin": "https://evil.example"}
    )
    assert r.status == 200  # same-origin policy is the browser's job; it gets no CORS grant
    assert "Access-Control-Allow-Origin" not in r.headers
    r = await env.client.get("/api/robots", headers={**env.auth(), "Origin": ORIGIN})
    assert r.headers.get("Access-Control-Allow-Origin") != "*"


def test_wildcard_origins_are_a_config_error() -> None:
    from pydantic import ValidationError

    from config.settings import WebSettings

    for bad in (["*"], ["http://ok.test/"], ["ok.test"]):
        with pytest.raises(ValidationError, match="origin"):
            WebSettings(origins=bad)


async def test_large_json_is_gzipped(env: WebEnv) -> None:
    for i in range(30):
        await env.event("robot.event", "serve-1", i=i, note="x" * 50)
    r = await env.client.get("/api/events", headers={**env.auth(), "Accept-Encoding": "gzip"})
    assert r.status == 200
    assert r.headers.get("Content-Encoding") == "gzip"
    assert len((await r.json())["items"]) == 30
    r = await env.client.get("/health", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in r.headers  # small: not worth it


async def test_request_ids_are_echoed_or_made(env: WebEnv) -> None:
    r = await env.client.get("/health", headers={"X-Request-ID": "abc-123"})
    assert r.headers["X-Request-ID"] == "abc-123"
    r = await env.client.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert (
        r.headers["X-Request-ID"] != "bad id with spaces" and len(r.headers["X-Request-ID"]) == 32
    )
    assert r.headers["X-Content-Type-Options"] == "nosniff"


async def test_api_responses_are_not_cached(env: WebEnv) -> None:
    r = await env.client.get("/api/robots", headers=env.auth())
    assert r.headers["Cache-Control"] == "no-store"


async def test_ready_reports_redis_down_as_503_and_routes_fail_fast(
    make_env: MakeEnv,
    redis_private: RedisServer,
) -> None:
    env = await make_env(redis={"url": redis_private.url})
    r = await env.client.get("/ready")
    assert r.status == 200
    redis_private.kill()
    r = await env.client.get("/ready")
    assert r.status == 503
    body = await r.json()
    assert (
        body["status"] == "not_ready"
        and body["redis"].startswith("error")
        and body["database"] == "ok"
    )
    r = await env.client.get("/api/robots", headers=env.auth())
    assert r.status == 503 and (await r.json())["code"] == "redis_unavailable"
    assert r.headers["Retry-After"] == "2"
    r = await env.client.get("/health")
    assert r.status == 200
    redis_private.start()
    # Back once the next probe (every redis.probe_interval_s) finds it answering.
    await wait_for(lambda: _status(env, "/api/robots"), timeout=5)


async def _status(env: WebEnv, path: str) -> bool:
    r = await env.client.get(path, headers=env.auth())
    return r.status == 200


async def test_missing_or_short_secret_is_refused(
    redis_server: RedisServer, sqlite_url: str
) -> None:
    from tests.support.web import web_settings
    from web import WebConfigError, create_app

    with pytest.raises(WebConfigError, match=r"web\.secret: required"):
        create_app(web_settings(redis_server.url, sqlite_url, web={"secret": None}))
    with pytest.raises(WebConfigError, match="at least 32 bytes"):
        create_app(web_settings(redis_server.url, sqlite_url, web={"secret": "short"}))
    with pytest.raises(WebConfigError, match=r"database\.url"):
        create_app(web_settings(redis_server.url, "mysql://x/y"))


async def test_lines_logged_while_handling_a_request_carry_its_id(
    env: WebEnv, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = structlog.get_config()
    configure_logging("info", "json", cache=False)
    try:
        capsys.readouterr()
        r = await env.client.post(
            "/api/auth/login",
            json={"username": "admin", "password": "not-the-password"},
            headers={"X-Request-ID": "req-login-1"},
        )
        assert r.status == 401
        lines = [
            orjson.loads(line)
            for line in capsys.readouterr().err.splitlines()
            if line.startswith("{")
        ]
    finally:
        structlog.configure(**saved)
    failed = [line for line in lines if line["event"] == "login_failed"]
    assert failed and failed[0]["request_id"] == "req-login-1"
    assert "not-the-password" not in str(lines)


async def test_the_known_user_fast_path_keeps_every_check(env: WebEnv) -> None:
    """A remembered token with a cached row is answered without a coroutine; anything else
    (a scheme in other case, a revoked row, a viewer on an admin route) goes the full way."""
    from web.http.auth import known_user
    from web.keys import USER_CACHE

    r = await env.client.get("/api/robots", headers=env.auth("staff"))
    assert r.status == 200
    r = await env.client.get(
        "/api/robots", headers={"Authorization": f"bearer  {env.tokens['staff']} "}
    )
    assert r.status == 200  # not the fast path's form: the full parse accepts it
    r = await env.client.get("/api/users", headers=env.auth("viewer"))
    assert r.status == 403 and (await r.json())["code"] == "forbidden"

    class Req:  # what known_user reads of a request
        def __init__(self, header: str) -> None:
            self.headers = {"Authorization": header}
            self.app = env.app
            self.state: dict[object, object] = {}

        def __setitem__(self, key: object, value: object) -> None:
            self.state[key] = value

    def req(header: str) -> Any:  # stands in for the web.Request known_user takes
        return Req(header)

    user = known_user(req(f"Bearer {env.tokens['staff']}"), env.app)
    assert user is not None and user.username == "staff" and user.role == "staff"
    assert known_user(req("Bearer not-a-token"), env.app) is None
    cached = env.app[USER_CACHE].get("staff")[1]
    assert cached is not None  # the calls above cached the user
    role, _, version = cached
    env.app[USER_CACHE].put("staff", (role, True, version))  # disabled meanwhile
    assert known_user(req(f"Bearer {env.tokens['staff']}"), env.app) is None
    r = await env.client.get("/api/robots", headers=env.auth("staff"))
    assert r.status == 401 and (await r.json())["code"] == "invalid_token"


async def test_common_headers_once_on_answers_and_streams(env: WebEnv) -> None:
    r = await env.client.get("/api/robots", headers={**env.auth(), "Origin": ORIGIN})
    assert r.status == 200
    assert r.headers.getall("Vary") == ["Accept-Encoding, Origin"]
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "no-referrer"
    assert len(r.headers.getall("X-Request-ID")) == 1
    r = await env.client.get(
        "/api/stream/events",
        params={"token": env.tokens["viewer"]},
        headers={"Origin": ORIGIN, "X-Request-ID": "sse-1"},
    )
    assert r.status == 200  # prepared by its handler: the prepare signal set these
    assert r.headers["X-Request-ID"] == "sse-1"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Cache-Control"] == "no-cache, no-store"
    r.close()


def test_log_lines_keep_their_format_and_redaction() -> None:
    import re

    from config.logging import _redact, _UtcStamp

    stamp = _UtcStamp()
    for _ in range(3):
        ts = stamp(None, "info", {})["timestamp"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", ts), ts
    for _ in range(2):  # the second time from the memo of harmless keys
        event = _redact(None, "info", {"path": "/x", "api_key": "k", "Token": "t", "n": 1})
        assert event == {"path": "/x", "api_key": "[redacted]", "Token": "[redacted]", "n": 1}


async def test_info_lines_leave_once_per_loop_turn_warnings_at_once(
    capfd: pytest.CaptureFixture[str],
) -> None:
    import asyncio
    import sys

    saved = structlog.get_config()
    configure_logging("info", "json", cache=False)
    try:
        log = structlog.get_logger("t")
        flushes: list[int] = []
        stderr: Any = sys.stderr  # its flush swapped for a counting one (mypy: a method)
        real_flush = stderr.flush

        def counting_flush() -> None:
            flushes.append(1)
            real_flush()

        stderr.flush = counting_flush
        try:
            log.info("one")
            log.info("two")
            assert flushes == []  # in the buffer until the loop turns
            await asyncio.sleep(0)
            assert len(flushes) == 1
            log.info("three")
            log.warning("four")
            assert len(flushes) == 2  # the warning carried the info line out with it
            await asyncio.sleep(0)
        finally:
            stderr.flush = real_flush
        out = capfd.readouterr().err
        events = [orjson.loads(line)["event"] for line in out.splitlines() if line.startswith("{")]
        assert events == ["one", "two", "three", "four"]
    finally:
        structlog.configure(**saved)


async def test_the_server_header_names_no_versions(env: WebEnv) -> None:
    answers = [
        await env.client.get("/health"),
        await env.client.get("/api/robots", headers=env.auth()),
        await env.client.get("/api/nothing"),
        await env.client.post("/api/auth/login", data=b"{", headers={"Content-Type": "x/y"}),
        await env.client.get("/api/stream/events", params={"token": env.tokens["viewer"]}),
    ]
    for r in answers:
        assert r.headers.getall("Server") == ["robodine"], (r.url, r.headers.get("Server"))
        r.close()
    ws = await env.ws("/ws/events")
    assert ws._response.headers["Server"] == "robodine"
    await ws.close()


async def _raw(port: int, request: bytes) -> tuple[bytes, dict[str, str], bytes]:
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)  # aiohttp closes after an error
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status.encode(), headers, body


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /health HTTP/1.1\r\nHost: t\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: t\r\nX-Nul: a\x00b\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: t\r\nBad Header: x\r\n\r\n",
        b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: t\r\n\r\n",
    ],
    ids=["long-header", "nul-in-header", "space-in-name", "long-request-line"],
)
async def test_requests_aiohttp_refuses_are_problem_json_without_a_traceback(
    redis_server: RedisServer,
    sqlite_url: str,
    request_bytes: bytes,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """`robodine web`'s runner (web/http/protocol.py): aiohttp's own 400s, before any route."""
    from aiohttp import web

    from tests.support.web import web_settings
    from web import create_app
    from web.http.access_log import AccessLogger
    from web.http.protocol import Runner

    runner = Runner(
        create_app(web_settings(redis_server.url, sqlite_url)), access_log_class=AccessLogger
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        caplog.clear()
        status, headers, body = await _raw(port, request_bytes)
        assert status.split(b" ")[1] == b"400", status  # HTTP/1.0: aiohttp answers a bad message so
        assert headers["content-type"] == "application/problem+json"
        assert headers["server"] == "robodine"
        problem = orjson.loads(body)
        assert problem["status"] == 400 and problem["code"] == "bad_request"
        assert b"aaaa" not in body, "the request is not echoed"
        assert not [r for r in caplog.records if r.exc_info], "no traceback per request"
        ok_status, ok_headers, _ = await _raw(
            port, b"GET /health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
        )
        assert ok_status.startswith(b"HTTP/1.1 200") and ok_headers["server"] == "robodine"
    finally:
        await runner.cleanup()
