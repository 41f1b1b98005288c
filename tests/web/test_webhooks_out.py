"""Outbound webhooks: registered by admins, signed, retried with backoff, logged, disabled
after repeated failure, delivered once per idempotency key across a worker restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web

from protocol.streams import Level
from robodine import signing
from tests.support.web import MakeEnv, WebEnv
from tests.waiting import wait_for
from tests.web.jobs_support import fast_jobs, http_server, process_env, processes
from web.webhooks.targets import refusal

__all__ = ["processes"]
pytestmark = pytest.mark.integration


class Receiver:
    """An integrator's endpoint: fails the first `fail` attempts of each event, then 200."""

    def __init__(self, fail: int) -> None:
        self.fail = fail
        self.attempts: list[dict[str, Any]] = []
        self.accepted: dict[str, dict[str, Any]] = {}  # idempotency key -> event
        self.secret = b""

    async def hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        signing.verify(
            self.secret, body, request.headers.get(signing.HEADER), now=time.time(), window_s=300
        )  # raises (a 500) on a bad signature
        key = request.headers["Idempotency-Key"]
        event = orjson.loads(body)
        assert event["id"] == key == request.headers["Robodine-Event-Id"]
        self.attempts.append(event)
        if sum(1 for a in self.attempts if a["id"] == key) <= self.fail:
            return web.Response(status=503, text="try later")
        if key in self.accepted:  # a receiver de-duplicates by the key
            return web.Response(status=200, text="seen")
        self.accepted[key] = event
        return web.Response(status=200, text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/hook", self.hook)
        return app


def sections(tmp_path: Path, **webhooks: Any) -> dict[str, Any]:
    return {
        "media": {"url": str(tmp_path / "media")},
        "jobs": fast_jobs(),
        "webhooks": {
            "allow_addresses": ["127.0.0.1"],
            "retry_delay_s": 0.3,
            "retry_max_delay_s": 0.6,
            "timeout_s": 3,
            **webhooks,
        },
    }


async def register(env: WebEnv, url: str, events: list[str]) -> dict[str, Any]:
    r = await env.client.post(
        "/api/webhooks/endpoints", headers=env.auth(), json={"url": url, "events": events}
    )
    assert r.status == 201, await r.text()
    return dict(await r.json())


async def deliveries(env: WebEnv, endpoint: int) -> list[dict[str, Any]]:
    r = await env.client.get(f"/api/webhooks/endpoints/{endpoint}/deliveries", headers=env.auth())
    assert r.status == 200, await r.text()
    return list((await r.json())["items"])


async def test_a_receiver_failing_twice_gets_each_event_once_per_idempotency_key(
    make_env: MakeEnv, tmp_path: Path, sqlite_url: str, redis_server: Any, processes: Any
) -> None:
    sec = sections(tmp_path)
    env = await make_env(**sec)
    rx = Receiver(fail=2)
    async with http_server(rx.app()) as base:
        ep = await register(env, f"{base}/hook", ["order.delivered", "alarm"])
        rx.secret = ep["secret"].encode()
        assert ep["secret"].startswith("whsec_") and ep["enabled"]
        listed = await (await env.client.get("/api/webhooks/endpoints", headers=env.auth())).json()
        assert [e["id"] for e in listed["items"]] == [ep["id"]]
        assert listed["items"][0]["secret"] is None  # shown once, at creation
        env_w = process_env(redis_server.url, sqlite_url, **sec)
        first = processes("worker", env_w)
        await first.wait_log("worker_started")
        await asyncio.to_thread(
            first.stop
        )  # the groups exist now; what comes while no worker runs waits for one
        await env.event(
            "order.status", order="o-1", status="delivered", previous="delivering", table="T1"
        )
        await env.event("order.status", order="o-1", status="cooking", previous="placed")
        await env.event("robot.fault", "serve-1", level=Level.ALARM, code="motor")
        await processes("worker", env_w).wait_log("worker_started")
        await wait_for(lambda: len(rx.accepted) == 2, timeout=30)
        assert sorted(e["type"] for e in rx.accepted.values()) == ["alarm", "order.delivered"]
        assert len(rx.attempts) == 6  # 2 failures + 1 success, per event
        for key in rx.accepted:
            assert sum(1 for a in rx.attempts if a["id"] == key) == 3
        log = await wait_for(lambda: _all_delivered(env, ep["id"]), timeout=10)
        assert {d["attempts"] for d in log} == {3} and {d["last_status"] for d in log} == {200}
        order = next(d for d in log if d["event_type"] == "order.delivered")
        assert order["payload"]["data"]["order"] == "o-1"
        got = await (
            await env.client.get(f"/api/webhooks/endpoints/{ep['id']}", headers=env.auth())
        ).json()
        assert got["failures"] == 0 and got["enabled"]


async def _all_delivered(env: WebEnv, endpoint: int) -> list[dict[str, Any]] | None:
    log = await deliveries(env, endpoint)
    return log if len(log) == 2 and all(d["status"] == "delivered" for d in log) else None


async def test_an_endpoint_failing_again_and_again_is_disabled(
    make_env: MakeEnv, tmp_path: Path, sqlite_url: str, redis_server: Any, processes: Any
) -> None:
    sec = sections(tmp_path, disable_after=3, retries=10)
    env = await make_env(**sec)
    rx = Receiver(fail=1000)
    async with http_server(rx.app()) as base:
        ep = await register(env, f"{base}/hook", ["alarm"])
        rx.secret = ep["secret"].encode()
        await processes("worker", process_env(redis_server.url, sqlite_url, **sec)).wait_log(
            "worker_started"
        )
        await env.event("robot.fault", "serve-1", level=Level.ALARM, code="a")

        async def disabled() -> Any:
            got = await (
                await env.client.get(f"/api/webhooks/endpoints/{ep['id']}", headers=env.auth())
            ).json()
            return got if not got["enabled"] else None

        got = await wait_for(disabled, timeout=30)
        assert got["failures"] == 3 and "3 failed attempts in a row" in got["disabled_reason"]
        [d] = await deliveries(env, ep["id"])
        assert d["status"] == "failed" and d["attempts"] == 3 and d["last_status"] == 503
        assert len(rx.attempts) == 3
        r = await env.client.patch(
            f"/api/webhooks/endpoints/{ep['id']}", headers=env.auth(), json={"enabled": True}
        )
        assert (await r.json())["failures"] == 0


async def test_endpoints_may_not_target_the_box_itself(make_env: MakeEnv, tmp_path: Path) -> None:
    env = await make_env(media={"url": str(tmp_path / "m")})
    for url, why in [
        ("http://127.0.0.1:6379/", "loopback"),
        ("http://localhost:8080/x", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("ftp://example.com/", "http"),
        ("http://user:pw@example.com/", "password"),
    ]:
        r = await env.client.post(
            "/api/webhooks/endpoints", headers=env.auth(), json={"url": url, "events": ["alarm"]}
        )
        body = await r.json()
        assert r.status == 422 and body["code"] in ("url_refused", "invalid_field"), url
        assert why in body["detail"], (url, body["detail"])
    r = await env.client.post(
        "/api/webhooks/endpoints",
        headers=env.auth("staff"),
        json={"url": "http://192.168.1.50/hook", "events": ["alarm"]},
    )
    assert r.status == 403
    r = await env.client.post(
        "/api/webhooks/endpoints",
        headers=env.auth(),
        json={"url": "http://192.168.1.50/hook", "events": ["nope"]},
    )
    assert r.status == 422 and (await r.json())["field"] == "events[0]"


def test_the_address_policy() -> None:
    import ipaddress

    from config.settings import WebhookSettings

    deny = WebhookSettings()
    ip = ipaddress.ip_address
    assert refusal(ip("127.0.0.5"), deny) and refusal(ip("::ffff:127.0.0.1"), deny)
    assert refusal(ip("fe80::1"), deny) and refusal(ip("224.0.0.1"), deny)
    assert refusal(ip("192.0.2.10"), deny) is None  # documentation range: not ours
    assert refusal(ip("10.1.2.3"), deny) is None  # a LAN POS: allowed by default
    assert refusal(ip("10.1.2.3"), WebhookSettings(deny_private=True))
    assert refusal(ip("127.0.0.1"), WebhookSettings(allow_addresses=["127.0.0.0/8"])) is None
