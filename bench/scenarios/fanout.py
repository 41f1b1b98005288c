"""fanout: telemetry samples per second the web tier delivers to 100-500 WebSocket clients,
against a bare aiohttp loop broadcasting messages of the same content to the same clients.

What counts, on both sides, is telemetry samples the clients received per
second, summed over clients. The web tier sends each client everything
pending since its last write as one message (a ``batch`` of telemetry frames,
docs/api.md section 5), so a message holds one or more samples. To keep the
comparison one of equals, the project runs first, and the bare loop then
broadcasts messages holding the same number of samples as the project's
messages held on average in that run (the same frames, the same ``batch``
wrapper, built once per round as the hub builds its frames once per read);
both figures are also reported in messages per second.

Both sides are saturated: the bare loop sends as fast as the sockets take
messages; the web tier is fed more telemetry than it can fan out (entries
written straight into rd:telemetry by a feeder process, so the gateway's cost
is not in the figure): `delivered_share` (samples received / entries fed x
clients) below 1 and the web process near 100 % of a core show it.
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
MEASURES = "WebSocket telemetry samples delivered per second to 100-500 clients"
CEILING = "a bare aiohttp broadcast loop, same clients, same samples per message"
GOAL = ">= 0.7 of the ceiling"

ROBOTS = 50
FEED_RATE = 10_000  # entries/s into rd:telemetry: 200 Hz x 50 robots (docstring)

NOTES = """\
What bounds it (2026-11-22, after the batch work): the web tier's per-message path is now about
aiohttp's own: the hub encodes each sample once, coalesces a read per robot, frames the read's
`batch` message once (`FrameBatch.wire`) and writes those same bytes straight to every idle client
socket with room, from the reader's loop (no task wake-up, no timer per write); only a client whose
socket is backed up goes through its own task, merging per robot. In-process (one server, clients
in a child, CPU time per message): 29.4 us vs 29.2 us for a loop of aiohttp `send_frame` at 50
clients x 25 samples, 18.4 vs 14.9 us at 500 x 50. The reader asks Redis for the next batch before
fanning out the current one, so the XREAD round trip overlaps the writes. Before: 0.19-0.50 (one
frame per sample on both sides). Now, at the same samples per message on both sides, full run at
load ~2 (06:55): 100 clients 0.31 (web 903,000 samples/s in 30,900 messages/s at 69 % of a core,
`delivered_share` 0.90: at 100 clients the feed, not the web tier, still sets the pace; bare loop
2.9 M samples/s at 29 per message, server 91 %, clients 96 %), 500 clients 0.52 (web 2.07 M
samples/s, 42,200 messages/s at 80 %, delivered 0.41; bare 4.0 M at 49 per message, 97 %). CPU
per message: web 19-22 us, bare loop 9-12 us; the rest of the gap is the hub's per-entry work
(XREAD parsing of 10,000 entries/s, decoding and encoding each read's newest samples) and the
feeder (25 %) and Redis (10 %) sharing the 2 cores, which the bare loop does not. With batching
and the old feed (2,000 entries/s in 10 ms ticks) the web tier idled at 27-44 % delivering every
sample, and the ratio (0.18-0.25) measured the feed, not the server. The feed is 10,000 entries/s in
2 ms ticks so that the web tier, not the feed, sets the pace (`delivered_share` < 1); the
feeder packs its XADDs with hiredis (28 us of CPU per entry against 44 with redis-py's pipeline).
Connecting 500 telemetry sockets is bounded by the token's SQL lookup (web/auth.py) and the
snapshot's XREVRANGE of `web.telemetry_scan` entries, of which only each robot's newest is now
decoded.
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
        # The clients connect to an idle web tier (as to the idle bare server); the
        # feeder starts once they are all in.
        with ctx.profiling(web, f"fanout-{n}-web") as profile:
            project = _measure(ctx, ports.web, f"/ws/telemetry?token={token}", n, seconds,
                               {"web": web.pid, "redis": redis_svc.pid},
                               feed=(url, robots))
        profiles.append(profile)
        per_message = max(1, round(project["samples"] / max(project["messages"], 1)))
        ceiling = _ceiling(ctx, n, seconds, per_message)
        fed = FEED_RATE * n
        runs.append({"clients": n, "project_samples_s": project["samples_s"],
                     "ceiling_samples_s": ceiling["samples_s"],
                     "ratio": round(project["samples_s"] / ceiling["samples_s"], 3)
                     if ceiling["samples_s"] else None,
                     "samples_per_message": per_message,
                     "project_messages_s": project["messages_s"],
                     "ceiling_messages_s": ceiling["messages_s"],
                     "delivered_share": round(project["samples_s"] / fed, 3),
                     "project_cpu_pct": project["cpu"], "ceiling_cpu_pct": ceiling["cpu"],
                     "project_per_client": [project["per_client_min"],
                                            project["per_client_max"]],
                     "project_closes": project["closes"]})
        ctx.log(f"{n} clients: web {project['samples_s']:,.0f} samples/s "
                f"({project['messages_s']:,.0f} messages/s), bare aiohttp "
                f"{ceiling['samples_s']:,.0f} samples/s at {per_message} per message "
                f"-> {runs[-1]['ratio']}")
    last = runs[-1]
    ratios = [r["ratio"] for r in runs if r["ratio"] is not None]
    return Result(
        NAME, "ok", MEASURES, GOAL, project=last["project_samples_s"], unit="samples/s",
        ceiling=last["ceiling_samples_s"], ceiling_label=CEILING, ratio=last["ratio"],
        met=bool(ratios) and min(ratios) >= 0.7,
        figures={"runs": runs, "feed_entries_s": FEED_RATE, "window_s": seconds},
        bound=_bound(last), profile=profiles[-1] or None,
    )


def _ceiling(ctx: Context, n: int, seconds: float, per_message: int) -> dict[str, Any]:
    port = free_port()
    svc = ctx.service(f"ceiling-broadcast-{n}",
                      [robodine_argv()[0], "-m", "bench.ceilings", "broadcast", str(port), str(n),
                       str(per_message)])
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
