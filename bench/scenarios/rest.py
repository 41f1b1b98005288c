"""rest: GET /api/robots with 50 robots online, requests per second, against a bare aiohttp
JSON hello-world driven by the same client with the same concurrency.

The robots come online through the real gateway (a few signed datagrams
each), so the snapshots the endpoint reads are the gateway's own. Every
request carries the bench user's bearer token, as a dashboard's would.

The two servers run side by side and the client alternates between them,
hello-world then the project, in ``ROUNDS`` windows each (one in the quick
run): a disturbance of the shared machine then lands on both sides instead
of on one whole window, which moved the ratio between 0.59 and 0.79 in three
full runs of one code when each side had a single window. The per-round
ratios are reported next to the total.
"""

from __future__ import annotations

import time
from typing import Any

from bench import availability, webtier
from bench.harness import Context, Result
from bench.loadgen.http_load import HttpLoad
from bench.online import fleet_online
from bench.procs import CpuWindow, robodine_argv
from robodine.testing.servers import free_port

NAME = "rest"
MEASURES = "GET /api/robots with 50 robots online, requests/s"
CEILING = "a bare aiohttp JSON hello-world, same client and concurrency"
GOAL = ">= 0.7 of the ceiling"

ROBOTS = 50
CONNECTIONS = 16
ROUNDS = 4  # alternated windows per side in the full run (docstring)

BOUNDED_BY = """\
The web process's CPU per request, nearly all of it aiohttp's own and the hot path's Python:
no SQL or Redis is left on it (a micro-cache answers the list, tokens and user rows are
remembered). The ratio moves by up to +-0.15 between windows of the same code on a shared
machine, so the rounds are reported; `python -m bench.callgrind` counts instructions per
request for changes smaller than that.
"""


def unavailable() -> str | None:
    return availability.web()


def run(ctx: Context) -> Result:
    seconds = ctx.pick(2.0, 10.0)
    redis_svc, _, ports = fleet_online(ctx, ROBOTS)
    web = ctx.web(ports)
    token = webtier.login(ports.web)
    listed = webtier.request(ports.web, "GET", "/api/robots", token=token)
    online = sum(1 for r in listed["items"] if r.get("connection") == "online")
    if online < ROBOTS:
        raise RuntimeError(f"/api/robots lists {online} robots online, expected {ROBOTS}")

    port = free_port()
    hello = ctx.service(
        "ceiling-hello", [robodine_argv()[0], "-m", "bench.ceilings", "hello", str(port)]
    )
    hello.wait_port(port)
    rounds = ctx.pick(1, ROUNDS)
    hello_rounds: list[dict[str, Any]] = []
    project_rounds: list[dict[str, Any]] = []
    try:
        with ctx.profiling(web, "rest-web") as profile:
            for i in range(rounds):
                ctx.log(f"round {i + 1} of {rounds}")
                hello_rounds.append(
                    _load(ctx, port, "/hello", {}, seconds / rounds, {"server": hello.pid})
                )
                project_rounds.append(
                    _load(
                        ctx,
                        ports.web,
                        "/api/robots",
                        {"Authorization": f"Bearer {token}"},
                        seconds / rounds,
                        {"web": web.pid, "redis": redis_svc.pid},
                    )
                )
    finally:
        hello.stop()
    ceiling, project = _total(hello_rounds), _total(project_rounds)
    ratio = project["rps"] / ceiling["rps"] if ceiling["rps"] else None
    ctx.log(
        f"/api/robots {project['rps']:,.0f} req/s, hello-world {ceiling['rps']:,.0f} req/s"
        f" -> {ratio:.3f}"
        if ratio is not None
        else "no ceiling"
    )
    figures = {
        "connections": CONNECTIONS,
        "window_s": seconds,
        "robots_online": online,
        "rounds": [
            round(p["rps"] / c["rps"], 3) if c["rps"] else None
            for p, c in zip(project_rounds, hello_rounds, strict=True)
        ],
        "project": _brief(project),
        "ceiling": _brief(ceiling),
    }
    return Result(
        NAME,
        "ok",
        MEASURES,
        GOAL,
        project=project["rps"],
        unit="req/s",
        ceiling=ceiling["rps"],
        ceiling_label=CEILING,
        ratio=round(ratio, 3) if ratio is not None else None,
        met=ratio is not None and ratio >= 0.7,
        figures=figures,
        bound=_bound(project, ceiling),
        profile=profile or None,
    )


def _load(
    ctx: Context,
    port: int,
    path: str,
    headers: dict[str, str],
    seconds: float,
    pids: dict[str, int],
) -> dict[str, Any]:
    load = HttpLoad(port, path, CONNECTIONS, headers=headers)
    try:
        load.start()
        time.sleep(0.5)  # warm-up
        window = CpuWindow({**pids, "client": load.pid}).start()
        got = load.window(seconds)
        got["cpu"] = window.stop()
    finally:
        load.close()
    bad = {k: v for k, v in got["statuses"].items() if k != "200"}
    if bad or not got["requests"]:
        raise RuntimeError(f"GET {path}: statuses {got['statuses']}")
    ctx.log(
        f"GET {path}: {got['rps']:,.0f} req/s, p50 {got['latency_ms'].get('p50')} ms, "
        f"p99 {got['latency_ms'].get('p99')} ms, cpu {got['cpu']}"
    )
    return got


def _total(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's windows as one: requests over time, mean CPU, the median window's latency."""
    seconds = sum(w["seconds"] for w in windows)
    requests = sum(w["requests"] for w in windows)
    median = sorted(windows, key=lambda w: w["rps"])[len(windows) // 2]
    cpu = {
        k: round(sum(w["cpu"].get(k, 0.0) for w in windows) / len(windows), 1)
        for k in windows[0]["cpu"]
    }
    return {
        "rps": round(requests / seconds, 1) if seconds else 0.0,
        "requests": requests,
        "latency_ms": median["latency_ms"],
        "cpu": cpu,
    }


def _brief(got: dict[str, Any]) -> dict[str, Any]:
    lat = got["latency_ms"]
    return {
        "rps": got["rps"],
        "p50_ms": lat.get("p50"),
        "p99_ms": lat.get("p99"),
        "cpu_pct": got["cpu"],
    }


def _bound(project: dict[str, Any], ceiling: dict[str, Any]) -> str:
    web = project["cpu"].get("web", 0)
    return (
        f"the web process at {web:.0f}% of a core for {project['rps']:,.0f} req/s "
        f"({10 * web / max(project['rps'], 1):.2f} ms of CPU per request), the bare "
        f"hello-world at {ceiling['cpu'].get('server', 0):.0f}% for {ceiling['rps']:,.0f} "
        "req/s; the client process is reported to show it was not the bound "
        f"({project['cpu'].get('client', 0):.0f}% / {ceiling['cpu'].get('client', 0):.0f}%)"
    )
