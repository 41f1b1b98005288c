"""fanout: WebSocket frames per second the web tier delivers to 100-500 telemetry clients,
against a bare aiohttp loop broadcasting frames of the same size to the same clients.

Both sides are saturated: the ceiling sends as fast as the sockets take
frames; the web tier is fed more telemetry than it can fan out (entries
written straight into rd:telemetry by a feeder process, so the gateway's cost
is not in the figure). What counts is telemetry frames the clients received
per second, summed over clients.
"""

from __future__ import annotations

import time
from typing import Any

from bench import availability, webtier
from bench.harness import Context, Result
from bench.loadgen.feeder import Feeder
from bench.loadgen.wsfeed import FeedClients
from bench.procs import CpuWindow, free_port, robodine_argv

NAME = "fanout"
MEASURES = "WebSocket telemetry frames delivered per second to 100-500 clients"
CEILING = "a bare aiohttp broadcast loop, same clients, same frame size"
GOAL = ">= 0.7 of the ceiling"

ROBOTS = 50
FEED_RATE = 2000  # entries/s into rd:telemetry: 40 Hz x 50 robots

NOTES = """\
What bounds it: the web tier's per-frame send path on its one loop (py-spy: `SocketSession.send`
36 % inclusive: aiohttp frame writing 17 %, `asyncio.timeout` per frame 14-17 %, the send lock,
then `Subscription.absorb` 7 %), where the bare loop only writes each frame. Connecting is slow
too: 500 telemetry sockets took 18 s to open (each does the token's SQL lookup through aiosqlite,
XINFO and an XREVRANGE of `web.telemetry_scan` entries decoded for its snapshot) against 0.1 s on
the bare server. The bare loop and its clients both run at ~90-100 % of a core, so the ceiling is
itself bounded by this 2-core machine.
"""

def unavailable() -> str | None:
    return availability.web()


def run(ctx: Context) -> Result:
    counts = ctx.pick([100], [100, 500])
    seconds = ctx.pick(2.0, 8.0)
    redis_svc, url = ctx.redis()
    ports = ctx.config(ROBOTS, url)
    web = ctx.web(ports)
    token = webtier.login(ports.web)
    robots = [r["id"] for r in ports.config.robots]
    runs: list[dict[str, Any]] = []
    profiles: list[dict[str, Any]] = []
    for n in counts:
        ceiling = _ceiling(ctx, n, seconds)
        # The clients connect to an idle web tier (as to the idle bare server); the
        # feeder starts once they are all in.
        with ctx.profiling(web, f"fanout-{n}-web") as profile:
            project = _measure(ctx, ports.web, f"/ws/telemetry?token={token}", n, seconds,
                               {"web": web.pid, "redis": redis_svc.pid},
                               feed=(url, robots))
        profiles.append(profile)
        runs.append({"clients": n, "project_frames_s": project["frames_s"],
                         "ceiling_frames_s": ceiling["frames_s"],
                         "ratio": round(project["frames_s"] / ceiling["frames_s"], 3)
                         if ceiling["frames_s"] else None,
                         "project_cpu_pct": project["cpu"], "ceiling_cpu_pct": ceiling["cpu"],
                         "project_per_client": [project["per_client_min"],
                                                project["per_client_max"]],
                         "project_closes": project["closes"]})
        ctx.log(f"{n} clients: web {project['frames_s']:,.0f} frames/s, bare aiohttp "
                f"{ceiling['frames_s']:,.0f} frames/s -> {runs[-1]['ratio']}")
    last = runs[-1]
    ratios = [r["ratio"] for r in runs if r["ratio"] is not None]
    return Result(
        NAME, "ok", MEASURES, GOAL, project=last["project_frames_s"], unit="frames/s",
        ceiling=last["ceiling_frames_s"], ceiling_label=CEILING, ratio=last["ratio"],
        met=bool(ratios) and min(ratios) >= 0.7,
        figures={"runs": runs, "feed_entries_s": FEED_RATE, "window_s": seconds},
        bound=_bound(last), profile=profiles[-1] or None,
    )


def _ceiling(ctx: Context, n: int, seconds: float) -> dict[str, Any]:
    port = free_port()
    svc = ctx.service(f"ceiling-broadcast-{n}",
                      [robodine_argv()[0], "-m", "bench.ceilings", "broadcast", str(port), str(n)])
    try:
        svc.wait_port(port)
        return _measure(ctx, port, "/ws", n, seconds, {"server": svc.pid})
    finally:
        svc.stop()


def _measure(ctx: Context, port: int, path: str, n: int, seconds: float,
             pids: dict[str, int], feed: tuple[str, list[str]] | None = None) -> dict[str, Any]:
    clients = FeedClients(port, path, n)
    feeder: Feeder | None = None
    try:
        opened = clients.connect()
        if opened["connected"] < n:
            raise RuntimeError(f"{path}: only {opened['connected']} of {n} WebSockets opened: "
                               f"{opened['errors']}")
        ctx.log(f"{n} clients connected to {path.split('?')[0]} in {opened['seconds']}s")
        if feed is not None:
            feeder = Feeder(*feed, FEED_RATE)
            pids = {**pids, "feeder": feeder.pid}
        time.sleep(1.0)
        window = CpuWindow({**pids, "clients": clients.pid}).start()
        clients.start()
        time.sleep(seconds)
        got = clients.window()
        got["cpu"] = window.stop()
    finally:
        clients.close()
        if feeder is not None:
            feeder.close()
    return got


def _bound(last: dict[str, Any]) -> str:
    p, c = last["project_cpu_pct"], last["ceiling_cpu_pct"]
    return (f"at {last['clients']} clients the web tier used {p.get('web', 0):.0f}% of a core "
            f"(clients {p.get('clients', 0):.0f}%), the bare loop {c.get('server', 0):.0f}% "
            f"(clients {c.get('clients', 0):.0f}%): the server's one event loop is the bound "
            "when it is near 100%, the receiving process when that is")
