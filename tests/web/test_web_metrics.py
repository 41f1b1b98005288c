"""The web tier's /metrics, on its own port, read by prometheus-client's own parser."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson
from prometheus_client.parser import text_string_to_metric_families

from tests.servers import free_port
from tests.support.web import MakeEnv, recv, recv_until
from web.keys import METRICS
from web.metrics import serve_metrics


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[s.name, frozenset(s.labels.items())] = s.value
    return out


def value(got: dict[Any, float], name: str, **labels: str) -> float | None:
    return got.get((name, frozenset(labels.items())))


async def test_requests_feeds_chat_logins_and_hub_lag_are_counted(make_env: MakeEnv) -> None:
    env = await make_env()
    port = free_port()
    web_settings = env.settings.web.model_copy(update={"metrics_port": port})
    async with (
        serve_metrics(env.app[METRICS], web_settings, 0.5) as bound,
        aiohttp.ClientSession() as http,
    ):
        assert bound == f"127.0.0.1:{port}"
        for _ in range(3):
            assert (await env.client.get("/api/robots", headers=env.auth())).status == 200
        assert (await env.client.get("/api/robots/nope", headers=env.auth())).status == 404
        assert (await env.client.get("/no/such/path")).status == 404
        bad = {"username": "staff", "password": "wrong password here"}
        assert (await env.client.post("/api/auth/login", json=bad)).status == 401
        events = await env.ws("/ws/events")
        assert (await recv(events))["type"] == "hello"
        chat = await env.ws("/ws/chat/kitchen", "staff")
        assert (await recv(chat))["type"] == "history"
        await chat.send_str(orjson.dumps({"content": "two tables want water"}).decode())
        assert (await recv_until(chat, "message"))["content"] == "two tables want water"
        await env.event("robot.state", "serve-1", state="idle")
        await recv_until(events, "event")

        async with http.get(f"http://{bound}/metrics") as r:
            assert r.status == 200
            assert r.headers["Content-Type"].startswith("text/plain; version=")
            got = samples(await r.text())
        n = "robodine_web_requests_total"
        assert value(got, n, method="GET", route="/api/robots", status="200") == 3
        assert value(got, n, method="GET", route="/api/robots/{robot_id}", status="404") == 1
        assert value(got, n, method="GET", route="unrouted", status="404") == 1
        assert value(got, n, method="POST", route="/api/auth/login", status="401") == 1
        h = "robodine_web_request_duration_seconds_count"
        assert value(got, h, method="GET", route="/api/robots") == 3
        assert value(got, h, method="GET", route="/ws/{topic}") is None  # a stream: not timed
        assert value(got, "robodine_web_login_failures_total", reason="invalid_credentials") == 1
        assert value(got, "robodine_web_chat_messages_total", room="kitchen") == 1
        assert value(got, "robodine_web_feeds_open", kind="ws") == 1
        assert value(got, "robodine_web_feeds_open", kind="chat") == 1
        assert value(got, "robodine_web_topic_subscribers", topic="events") == 1
        assert value(got, "robodine_web_topic_queued_frames", topic="events") == 0
        lag = value(got, "robodine_web_hub_read_lag_seconds", stream="rd:events")
        assert lag is not None and 0 <= lag < 5
        assert (value(got, "robodine_web_hub_entries_total") or 0) >= 1

        await events.close()
        await chat.close()
        await asyncio.sleep(0.2)
        async with http.get(f"http://{bound}/metrics") as r:
            got = samples(await r.text())
        assert value(got, "robodine_web_feeds_open", kind="ws") == 0
        # the socket is counted once it ended, with its handshake's status
        assert value(got, n, method="GET", route="/ws/{topic}", status="101") == 1


async def test_a_taken_metrics_port_is_logged_and_the_tier_runs_on(make_env: MakeEnv) -> None:
    env = await make_env(users=False)
    with socket_taken() as port:
        web_settings = env.settings.web.model_copy(update={"metrics_port": port})
        async with serve_metrics(env.app[METRICS], web_settings, 0.5) as bound:
            assert bound is None
            assert (await env.client.get("/health")).status == 200
    off = env.settings.web.model_copy(update={"metrics_port": 0})
    async with serve_metrics(env.app[METRICS], off, 0.5) as bound:
        assert bound is None


def socket_taken() -> Any:
    import contextlib
    import socket

    @contextlib.contextmanager
    def taken() -> Any:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            s.listen()
            yield s.getsockname()[1]

    return taken()
