"""Background jobs end to end: the API, `robodine worker` processes (killed and restarted),
real redis-server, a fake analysis service calling back signed, SSE resume across a restart."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

import orjson
import pytest
from aiohttp import web
from saq.job import Status

from robodine import signing
from robodine.redisio.keys import DEFAULT
from tests.support.replies import RawEntries
from tests.support.web import MakeEnv, WebEnv
from tests.waiting import wait_for
from tests.web.jobs_support import (
    RobodineProcess,
    fast_jobs,
    http_server,
    multipart,
    process_env,
    processes,
)
from tests.web.shop import Shop, open_shop
from web.jobs.analysis import job_secret
from web.jobs.queue import JobQueue

__all__ = ["processes"]
pytestmark = pytest.mark.integration
TOKEN = "analysis-token-" + "t" * 20
MASTER = fast_jobs()["webhook_secret"]


class FakeAnalysis:
    """The external analysis service: takes the media, answers 202 (or what it is told)."""

    url: str  # where it listens: set by the ``service`` fixture once it is started

    def __init__(self) -> None:
        self.submits: list[dict[str, Any]] = []
        self.answer = 202
        self.delay = 0.0

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/analyse", self.analyse)
        return app

    async def analyse(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401)
        body = await request.read()
        self.submits.append(
            {
                "job": request.headers["Robodine-Job-Id"],
                "callback": request.headers["Robodine-Callback-Url"],
                "secret": request.headers["Robodine-Webhook-Secret"],
                "key": request.headers["Idempotency-Key"],
                "sha256": hashlib.sha256(body).hexdigest(),
            }
        )
        await asyncio.sleep(self.delay)
        return web.Response(status=self.answer, text="busy" if self.answer >= 500 else "ok")


async def call_back(
    env: WebEnv,
    submit: dict[str, Any],
    verdict: dict[str, Any],
    *,
    ts: int | None = None,
    secret: str | None = None,
) -> Any:
    body = orjson.dumps(verdict)
    sig = signing.sign((secret or submit["secret"]).encode(), body, ts or int(time.time()))
    return await env.client.post(
        urlsplit(submit["callback"]).path,
        data=body,
        headers={signing.HEADER: sig, "Content-Type": "application/json"},
    )


async def job(env: WebEnv, job_id: str) -> dict[str, Any]:
    r = await env.client.get(f"/api/jobs/{job_id}", headers=env.auth("viewer"))
    assert r.status == 200, await r.text()
    return dict(await r.json())


async def until_status(
    env: WebEnv, job_id: str, *statuses: str, timeout: float = 30
) -> dict[str, Any]:
    async def done() -> dict[str, Any] | None:
        j = await job(env, job_id)
        return j if j["status"] in statuses else None

    try:
        return dict(await wait_for(done, timeout=timeout, interval=0.1))
    except AssertionError:
        raise AssertionError(f"job {job_id} is {await job(env, job_id)}, not {statuses}") from None


async def submit(
    env: WebEnv, kind: str, data: dict[str, Any], who: str = "staff"
) -> dict[str, Any]:
    r = await env.client.post(
        "/api/jobs", json={"kind": kind, "input": data}, headers=env.auth(who)
    )
    assert r.status == 202, await r.text()
    return dict(await r.json())


async def stream_entries(env: WebEnv, job_id: str) -> list[dict[str, str]]:
    entries = cast(RawEntries, await env.redis.xrange(DEFAULT.jobs))
    out = []
    for _, fields in entries:
        f = {k.decode(): v.decode() for k, v in fields.items()}
        if f["job"] == job_id:
            out.append(f)
    return out


@pytest.fixture
async def service() -> AsyncIterator[FakeAnalysis]:
    fake = FakeAnalysis()
    async with http_server(fake.app()) as url:
        fake.url = url
        yield fake


def sections(tmp_path: Path, service_url: str = "http://127.0.0.1:9/analyse") -> dict[str, Any]:
    return {
        "media": {"url": str(tmp_path / "media")},
        "jobs": fast_jobs(
            analysis_url=service_url,
            analysis_token=TOKEN,
            analysis_timeout_s=3,
            analysis_wait_s=60,
            retries=3,
        ),
        "webhooks": {
            "allow_addresses": ["127.0.0.1"],
            "retry_delay_s": 0.2,
            "retry_max_delay_s": 0.5,
            "timeout_s": 3,
        },
    }


@pytest.fixture
async def setup(
    make_env: MakeEnv,
    tmp_path: Path,
    service: FakeAnalysis,
    sqlite_url: str,
    redis_server: Any,
    processes: Any,
) -> Any:
    sec = sections(tmp_path, f"{service.url}/analyse")
    env = await make_env(**sec)

    async def worker() -> RobodineProcess:
        p: RobodineProcess = processes("worker", process_env(redis_server.url, sqlite_url, **sec))
        await p.wait_log("worker_started")
        return p

    return env, worker


async def test_a_sales_report_is_a_csv_of_the_days_orders_and_stays_in_the_history(
    make_env: MakeEnv, tmp_path: Path, sqlite_url: str, redis_server: Any, processes: Any
) -> None:
    sec = sections(tmp_path)
    shop = await Shop(await open_shop(make_env, **sec)).load()
    env = shop.env
    r = await env.client.post(
        "/api/orders",
        headers=env.auth("staff"),
        json={
            "table_id": shop.tables["T1"]["id"],
            "items": [{"menu_item_id": shop.item("Bibimbap")}],
        },
    )
    assert r.status == 201, await r.text()
    order = (await r.json())["id"]
    await processes("worker", process_env(redis_server.url, sqlite_url, **sec)).wait_log(
        "worker_started"
    )
    j = await submit(env, "sales_report", {"date": datetime.now(UTC).date().isoformat()})
    assert j["status"] == "queued" and j["events"] == f"/api/jobs/{j['id']}/events"
    done = await until_status(env, j["id"], "completed", "failed")
    assert done["status"] == "completed", done
    assert done["progress"] == 1.0 and done["result"]["orders"] == 1 and done["attempts"] == 1
    csv = await env.client.get(
        f"/api/uploads/{done['result']['upload_id']}/content", headers=env.auth("viewer")
    )
    text = await csv.text()
    assert csv.headers["Content-Type"].startswith("text/csv")
    assert text.splitlines()[0].startswith("order_id,created_at,table,status")
    assert order in text and "비빔밥 x1" in text
    statuses = [e["status"] for e in await stream_entries(env, j["id"])]
    assert statuses[0] == "queued" and statuses[-1] == "completed" and "running" in statuses

    async def recorded() -> Any:  # the worker's history consumer writes SQL
        r = await env.client.get("/api/jobs?status=completed", headers=env.auth("viewer"))
        items = (await r.json())["items"]
        return items and items[0]["finished_at"] and items[0]["id"] == j["id"]

    await wait_for(recorded, timeout=10)


async def test_bad_kinds_and_inputs_are_refused_or_fail_once_with_the_reason(setup: Any) -> None:
    env, worker = setup
    r = await env.client.post("/api/jobs", json={"kind": "mine_bitcoin"}, headers=env.auth("staff"))
    body = await r.json()
    assert r.status == 422 and body["code"] == "unknown_job_kind" and "analysis" in body["kinds"]
    r = await env.client.post(
        "/api/jobs",
        json={"kind": "sales_report", "input": {"date": "x"}},
        headers=env.auth("staff"),
    )
    assert r.status == 422 and (await r.json())["field"] == "input.date"
    r = await env.client.post(
        "/api/jobs", json={"kind": "sales_report", "input": {}}, headers=env.auth("viewer")
    )
    assert r.status == 403
    kinds = await (await env.client.get("/api/jobs/kinds", headers=env.auth("viewer"))).json()
    assert {k["name"] for k in kinds["items"]} == {"analysis", "robot_logs", "sales_report"}
    await worker()
    j = await submit(
        env,
        "robot_logs",
        {"robot": "serve-1", "since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"},
    )
    failed = await until_status(env, j["id"], "failed", "completed")
    assert failed["error"] == "invalid input: until must be after since"
    assert failed["attempts"] == 1  # no retry can help: none spent
    j = await submit(env, "analysis", {"upload_id": "0" * 32})
    failed = await until_status(env, j["id"], "failed", "completed")
    assert failed["error"] == f"invalid input: no upload {'0' * 32!r}"


async def test_robot_logs_collects_one_robots_events_of_the_range(setup: Any) -> None:
    env, worker = setup
    mine = [await env.event("robot.event", "serve-1", name=f"n{i}") for i in range(3)]
    await env.event("robot.event", "serve-2", name="other")
    await worker()
    now = datetime.now(UTC).timestamp()
    since = datetime.fromtimestamp(now - 86400, UTC).isoformat()
    until = datetime.fromtimestamp(now + 3600, UTC).isoformat()
    j = await submit(env, "robot_logs", {"robot": "serve-1", "since": since, "until": until})
    done = await until_status(env, j["id"], "completed", "failed")
    assert done["status"] == "completed", done
    assert done["result"]["events"] == 3 and done["result"]["scanned"] == 4
    r = await env.client.get(
        f"/api/uploads/{done['result']['upload_id']}/content", headers=env.auth()
    )
    lines = [orjson.loads(x) for x in (await r.read()).splitlines()]
    assert [x["id"] for x in lines] == mine and {x["robot"] for x in lines} == {"serve-1"}


async def test_analysis_completes_with_the_signed_verdict_and_a_repeat_changes_nothing(
    setup: Any, service: FakeAnalysis
) -> None:
    env, worker = setup
    up = await (
        await env.client.post(
            "/api/uploads", data=multipart(b"clip" * 1000, "video/mp4"), headers=env.auth("staff")
        )
    ).json()
    await worker()
    j = await submit(env, "analysis", {"upload_id": up["id"]})
    await wait_for(lambda: service.submits, timeout=15)
    sub = service.submits[0]
    assert sub["job"] == sub["key"] == j["id"] and sub["sha256"] == up["sha256"]
    assert sub["secret"] == job_secret(MASTER.encode(), j["id"])
    verdict = {"status": "completed", "result": {"people": 3}}
    r = await call_back(env, sub, verdict, secret="wrong-secret-" + "x" * 20)
    assert r.status == 401 and (await r.json())["code"] == "signature_invalid"
    r = await call_back(env, sub, verdict, ts=int(time.time()) - 3600)
    assert r.status == 401 and (await r.json())["code"] == "signature_expired"
    r = await env.client.post(urlsplit(sub["callback"]).path, data=b"{}")
    assert r.status == 401 and (await r.json())["code"] == "signature_missing"
    r = await call_back(env, sub, verdict)
    assert r.status == 202 and await r.json() == {"accepted": True, "duplicate": False}
    done = await until_status(env, j["id"], "completed", "failed")
    assert done["result"] == {"upload_id": up["id"], "analysis": {"people": 3}}
    r = await call_back(env, sub, {"status": "failed", "error": "changed my mind"})
    assert r.status == 200 and (await r.json())["duplicate"] is True
    assert (await job(env, j["id"]))["status"] == "completed"


async def test_an_analysis_service_answering_500_fails_the_job_after_its_retries(
    setup: Any, service: FakeAnalysis
) -> None:
    env, worker = setup
    service.answer = 500
    up = await (
        await env.client.post(
            "/api/uploads", data=multipart(b"x", "video/mp4"), headers=env.auth("staff")
        )
    ).json()
    await worker()
    j = await submit(env, "analysis", {"upload_id": up["id"]})
    failed = await until_status(env, j["id"], "failed", "completed", timeout=40)
    assert failed["error"] == "analysis service answered 500: busy"
    assert failed["attempts"] == 3 and len(service.submits) == 3


async def test_an_analysis_service_that_times_out_fails_the_job_with_the_reason(
    setup: Any, service: FakeAnalysis
) -> None:
    env, worker = setup
    service.delay = 5  # analysis_timeout_s is 3
    up = await (
        await env.client.post(
            "/api/uploads", data=multipart(b"x", "video/mp4"), headers=env.auth("staff")
        )
    ).json()
    await worker()
    j = await submit(env, "analysis", {"upload_id": up["id"]})
    failed = await until_status(env, j["id"], "failed", "completed", timeout=60)
    assert failed["error"] == "analysis service timed out after 3 s"
    assert failed["attempts"] == 3


async def test_a_worker_killed_mid_job_has_it_completed_once_by_another(
    setup: Any, service: FakeAnalysis
) -> None:
    env, worker = setup
    up = await (
        await env.client.post(
            "/api/uploads", data=multipart(b"y" * 5000, "video/mp4"), headers=env.auth("staff")
        )
    ).json()
    first = await worker()
    j = await submit(env, "analysis", {"upload_id": up["id"]})
    await wait_for(lambda: service.submits, timeout=15)
    await until_status(env, j["id"], "running")
    first.kill()  # SIGKILL mid-job: no goodbye, its heartbeat stops
    await worker()  # another worker's sweep finds the lost job and runs it again

    async def second_attempt() -> Any:
        js = await job(env, j["id"])
        return js["attempts"] == 2 and js["status"] == "running"

    await wait_for(second_attempt, timeout=40, interval=0.2)
    assert len(service.submits) == 1  # the service accepted it once: not sent again
    r = await call_back(env, service.submits[0], {"status": "completed", "result": {"ok": 1}})
    assert r.status == 202
    done = await until_status(env, j["id"], "completed", "failed")
    assert done["status"] == "completed" and done["attempts"] == 2
    await asyncio.sleep(2)  # room for a duplicate, if there were one
    statuses = [e["status"] for e in await stream_entries(env, j["id"])]
    assert statuses.count("completed") == 1
    assert len(service.submits) == 1


async def test_cancel_a_queued_and_a_running_job(setup: Any, service: FakeAnalysis) -> None:
    env, worker = setup
    queued = await submit(env, "sales_report", {"date": "2026-01-01"})  # no worker yet
    r = await env.client.post(f"/api/jobs/{queued['id']}/cancel", headers=env.auth("staff"))
    assert r.status == 202 and (await r.json())["status"] == "cancelled"
    r = await env.client.post(f"/api/jobs/{queued['id']}/cancel", headers=env.auth("staff"))
    assert r.status == 409 or (await r.json())["status"] == "cancelled"
    up = await (
        await env.client.post(
            "/api/uploads", data=multipart(b"z", "video/mp4"), headers=env.auth("staff")
        )
    ).json()
    await worker()
    running = await submit(env, "analysis", {"upload_id": up["id"]})
    await until_status(env, running["id"], "running")
    await wait_for(lambda: service.submits, timeout=15)
    r = await env.client.post(f"/api/jobs/{running['id']}/cancel", headers=env.auth("staff"))
    assert r.status == 202
    done = await until_status(env, running["id"], "cancelled", "completed", "failed", timeout=15)
    assert done["status"] == "cancelled"
    r = await call_back(env, service.submits[0], {"status": "completed"})
    assert r.status == 409 and (await r.json())["code"] == "job_finished"


async def read_sse(resp: Any, want: int, timeout: float = 10) -> list[dict[str, Any]]:
    """Parse `want` events carrying an id (hello and pings have none)."""
    events: list[dict[str, Any]] = []
    cur: dict[str, Any] = {}
    async with asyncio.timeout(timeout):
        while len(events) < want:
            line = (await resp.content.readline()).decode().rstrip("\n")
            if not line:
                if "data" in cur and "id" in cur:
                    events.append(cur)
                cur = {}
                continue
            key, _, value = line.partition(": ")
            cur[key] = orjson.loads(value) if key == "data" else value
    return events


async def test_sse_resumes_with_last_event_id_across_a_web_restart(
    make_env: MakeEnv, tmp_path: Path
) -> None:
    sec = sections(tmp_path)
    env = await make_env(**sec)
    j = await submit(env, "sales_report", {"date": "2026-01-01"})
    # Play the worker by hand: SAQ's own calls, so rd:jobs gets what a worker would write.
    queue = JobQueue.open(env.settings, name="test-worker")
    try:
        dequeued = await queue.jobs.dequeue(timeout=1)
        assert dequeued is not None and dequeued.key == j["id"]
        dequeued.attempts = 1
        await dequeued.update(status="active")
        r = await env.client.get(f"/api/jobs/{j['id']}/events", headers=env.auth("viewer"))
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/event-stream")
        for p in (0.1, 0.2):
            await dequeued.update(progress=p, meta={"message": f"at {p}"})
        seen = await read_sse(r, 3)  # snapshot, progress 0.1, progress 0.2
        assert seen[0]["event"] == "snapshot"
        assert [e["data"]["progress"] for e in seen[1:]] == [0.1, 0.2]
        last = seen[-1]["id"]
        r.close()
        await env.client.close()  # the web process goes away ...
        for p in (0.3, 0.4):  # ... while the job moves on
            await dequeued.update(progress=p, meta={"message": f"at {p}"})
        await queue.jobs.finish(dequeued, Status.COMPLETE, result={"orders": 0})
        env2 = await make_env(users=False, **sec)  # ... and a new one starts
        token = env.tokens["viewer"]
        r = await env2.client.get(
            f"/api/jobs/{j['id']}/events?token={token}", headers={"Last-Event-ID": last}
        )
        rest = await read_sse(r, 3)
        assert [(e["data"]["status"], e["data"]["progress"]) for e in rest] == [
            ("running", 0.3),
            ("running", 0.4),
            ("completed", 1.0),
        ]
        ids = [e["id"] for e in seen[1:] + rest]
        assert len(set(ids)) == len(ids) == 5  # nothing twice, nothing missed
        assert rest[-1]["data"]["result"] == {"orders": 0}
        r.close()
    finally:
        await queue.close()
