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

The bare loop sends as fast as the sockets take messages, so the web tier is
measured at its capacity too: it is fed telemetry of 400 robots (entries
written straight into rd:telemetry by a feeder process, so the gateway's cost
is not in the figure), first at 50 Hz (20,000 entries/s, the issue's "hundreds
of robots at 10-50 Hz"), then at higher rates while it still delivers every
sample fed (`delivered_share` >= 0.97: samples received / entries fed x
clients) or, coalescing (latest wins), still delivers more samples per second
than at the step before (at least 5 % more): a step that coalesces without
delivering more shows the web tier, or the machine, saturated. The step with
the most samples delivered per second is the figure; the bare loop then sends messages holding
that step's samples per message, in two windows, the better of which counts
(the quick run: one). Every step is kept in the results. Both sides' clients
receive in two processes, so the bare loop is not bound by one receiving
process (NOTES).
"""

from __future__ import annotations

import time
from typing import Any

from bench import availability, webtier
from bench.harness import Context, Result
from bench.loadgen.feeder import Feeder
from bench.loadgen.wsfeed import FeedClients
from bench.procs import CpuWindow, robodine_argv
from robodine.testing.servers import free_port

NAME = "fanout"
MEASURES = "WebSocket telemetry samples delivered per second to 100-500 clients"
CEILING = "a bare aiohttp broadcast loop, same clients, same samples per message"
GOAL = ">= 0.7 of the ceiling"

ROBOTS = 400
# entries/s into rd:telemetry, in 1 ms ticks: 400 robots at 50 Hz, then faster (module docstring)
FEEDS = (20_000, 35_000, 50_000, 65_000, 80_000)
# Receiving processes on both sides: with one, the bare loop's clients were the bound (one
# process at 99 % of a core, the server at 37-64 %), and ratios above 1 came out (NOTES).
CLIENT_PROCESSES = 2
KEEPS_UP = 0.97  # delivered share at which a step still counts as "every sample delivered"
GROWS = 1.05  # a coalescing step must deliver this much more than the one before to go on

NOTES = """\
What bounds it (2026-12-05): the two cores, shared by the web tier, Redis, the feeder and the
receiving clients; the bare loop shares them with its clients only. At 100 clients, five runs in a
row as this date's changes landed: 0.71, 0.72, 0.80, 0.93 and 1.02 (that one against a slow ceiling
window), and 0.69 in the full run (5.40 M samples/s at a 65,000/s feed against a ceiling window of
7.84 M), against 0.48 and 0.52 for the previous commit run back to back with them (0.60-0.68 on
2026-12-04); at 500 clients 0.89-1.20 (was 0.83-0.86). The web tier now delivers every sample of a
50,000 entries/s feed (4.89-4.94 M samples/s, share 0.977-0.987, in four runs) where it kept up
with 35,000; at 65,000 it coalesces (share 0.75-0.83). What changed: (1) rd:telemetry entries hold
the sample as one JSON object (robot id + `sample`; protocol/streams.py): the hub reads 4 strings
an entry instead of 20, checks the JSON with one msgspec decode and puts it in the frame as it is,
instead of converting ten fields and encoding them again (in-process, a 300-entry XREAD from a real
Redis then frames: 7.5 -> 4.0 us of CPU an entry on the same machine; of the 4.0, reading 1.4, the
stream id's parse ~1.0, the decode ~0.5, the frame's text ~0.3); Redis serves and stores a 2-field
entry (its CPU at a 35,000/s feed 21 -> 14 %, 211 bytes an entry in memory instead of 118); (2) a
client holding the hub's batch when the next one comes takes the two batches' merge, made once and
shared (FrameBatch.after), instead of merging per robot and building its own message: clients fall
behind together when the machine is busy, and per-client, per-sample work at that moment made a
short overload a collapse (60,000 -> 18,000 messages/s in one step); (3) a `lagging` notice at most
once a second per client (each one forced a per-client message); (4) the feeder ~1 us an entry (was
~1.8: hiredis packing each command), 12 % of a core at 65,000/s instead of 18 %. The stepping goes
on past a coalescing step while it still delivers 5 % more samples/s than the step before (it
stopped at the first coalescing step, assuming saturation; at 50,000/s the share was 0.94 with the
web tier at 71 % of a core). Where the web tier's time goes at the top step (py-spy): the direct
socket writes ~45 % (one pre-built frame per client per read, the kernel's loopback TCP included;
the bare loop pays the same per message), reading and framing the entries ~25 % (msgspec's
validating decode, the stream id's parse, the field map), the event loop ~8 %. Redis (~16-19 %) and
the feeder (~10-12 %) are the rest of what the bare loop's side spends on sending. The ceiling
itself moves 4.9-7.4 M samples/s between windows and runs; the table shows the run with the lowest
ratio. Connecting 500 telemetry sockets is bounded by the token's SQL lookup (web/auth.py) and each
socket's snapshot.

Later on 2026-12-05 (an Intel Xeon host, busier: e2e p99 9.7 ms and slow-client p99 4.6 ms in the
same full run): the hub's CPU per entry in-process (260-entry reply -> frames -> framed message)
2.9 -> 2.2 us: an entry of two fields pairs off without an iterator (~0.9 -> ~0.2 us), the stream
id's ms part is remembered (a read's ids share a few) and parsed without a classmethod hop (~1.0
-> ~0.6 us), TelemetryRecord is untracked by the GC. Fanout at 100 clients, the commit before and
this one alternated: 0.76, 0.61 and 0.72, 0.81 (noise larger than the change); the full run 0.64
at 100 clients (4.26 M against 6.64 M), 0.69 at 500. Two experiments, not kept: (a) the feed
sockets' send buffer (web.feed_send_buffer_bytes) 512 KiB: 0.55, 0.72; the kernel's autotuning:
0.71, 0.77; 128 KiB (the default): 0.79, 0.76, so buffering is not what coalesces; (b) four
receiving processes instead of two on both sides: 0.70, 0.77 against 0.70, 0.61, and the clients'
total CPU stayed where it was (~85-90 % of a core against the web tier, ~130 % against the bare
loop), so no per-process scheduler share sets it. What the numbers show: per entry fed, Redis
(XADD with MAXLEN ~ and the hub's XREAD, 28-30 % of a core at 65,000/s on this host, ~4.4 us), the
feeder (~2.2 us) and the web tier's read and frame (~3 us) cost ~10 us that the bare loop does not
pay, against ~18 us the 100 clients spend receiving it (~0.18 us a sample); at 500 clients that
becomes ~90 us, which is why 500 meets the goal and 100 does not. Unexplained, and the next thing
to look at: the web tier starts to coalesce at 50,000/s with itself at ~70 % of a core and its
clients at ~45 % each, not saturated; count why try_write refuses (send lock held by a pump that
is draining a merged message, or the transport above its low-water mark) per step.

Answered the same afternoon by counting (a throw-away instrumented run): try_write refused only
~2.5 % of its calls (the transport's low-water mark is 16 bytes: any partial write counts), while
the hub itself read past ~0.47 M of the ~2.5 M entries fed over the steps: at 65,000/s a cycle
that overran 500 entries (web.hub_batch, ~7.7 ms) made a full XREAD, thrown away for an
XREVRANGE of the newest 500, and the next read was full again, so under a lasting load every read
cost Redis and the hub twice. Within a read, latest-wins keeps one sample per robot (400 robots:
a read of more than 400 entries cannot deliver them all). Change: a one-stream latest-only reader
that has just skipped reads the newest page next (one XREVRANGE after its position) and goes back
to the blocking XREAD when a page comes back short (web/hub.py; stats `read_newest`). At an 80,000/s
feed, back to back: Redis 21 % of a core against 24.5-28 % before, delivered share 0.83 against
0.67-0.70; fanout at 100 clients, alternated with the commit before: 0.82, 0.74 against 0.73, 0.70
(500 clients 1.31, 1.14 against 1.00, 0.78). Full run after it (13:07, quiet, Intel Xeon): 0.80 at
100 clients (4.84 M at a 50,000/s feed against 6.05 M), 0.81 at 500.
"""

def unavailable() -> str | None:
    return availability.web()


def run(ctx: Context) -> Result:
    counts = ctx.pick([100], [100, 500])
    feeds = ctx.pick(FEEDS[:1], FEEDS)
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
        steps: list[dict[str, Any]] = []
        with ctx.profiling(web, f"fanout-{n}-web") as profile:
            for feed in feeds:
                got = _measure(ctx, ports.web, f"/ws/telemetry?token={token}", n, seconds,
                               {"web": web.pid, "redis": redis_svc.pid},
                               feed=(url, robots, feed))
                got["feed"] = feed
                got["delivered_share"] = round(got["samples_s"] / (feed * n), 3)
                steps.append(got)
                ctx.log(f"{n} clients, feed {feed:,}/s: web {got['samples_s']:,.0f} samples/s "
                        f"({got['messages_s']:,.0f} messages/s), delivered share "
                        f"{got['delivered_share']}, web {got['cpu'].get('web', 0):.0f}% of a core")
                before = steps[-2]["samples_s"] if len(steps) > 1 else 0.0
                if got["delivered_share"] < KEEPS_UP and got["samples_s"] < before * GROWS:
                    break  # saturated: a faster feed is only coalesced harder
        profiles.append(profile)
        project = max(steps, key=lambda g: g["samples_s"])
        per_message = max(1, round(project["samples"] / max(project["messages"], 1)))
        # The project's figure is its best step; the ceiling's is the better of two windows,
        # so a dip of the machine in one window cannot flatter the ratio.
        ceilings = [_ceiling(ctx, n, seconds, per_message) for _ in range(ctx.pick(1, 2))]
        ceiling = max(ceilings, key=lambda g: g["samples_s"])
        runs.append({"clients": n, "feed_entries_s": project["feed"],
                     "project_samples_s": project["samples_s"],
                     "ceiling_samples_s": ceiling["samples_s"],
                     "ratio": round(project["samples_s"] / ceiling["samples_s"], 3)
                     if ceiling["samples_s"] else None,
                     "samples_per_message": per_message,
                     "project_messages_s": project["messages_s"],
                     "ceiling_messages_s": ceiling["messages_s"],
                     "delivered_share": project["delivered_share"],
                     "project_cpu_pct": project["cpu"], "ceiling_cpu_pct": ceiling["cpu"],
                     "project_per_client": [project["per_client_min"],
                                            project["per_client_max"]],
                     "project_closes": project["closes"],
                     "ceiling_windows_samples_s": [g["samples_s"] for g in ceilings],
                     "steps": [{"feed_entries_s": g["feed"], "samples_s": g["samples_s"],
                                "messages_s": g["messages_s"],
                                "delivered_share": g["delivered_share"], "cpu_pct": g["cpu"]}
                               for g in steps]})
        ctx.log(f"{n} clients: web {project['samples_s']:,.0f} samples/s at a feed of "
                f"{project['feed']:,}/s, bare aiohttp {ceiling['samples_s']:,.0f} samples/s at "
                f"{per_message} per message -> {runs[-1]['ratio']}")
    ratios = [r["ratio"] for r in runs if r["ratio"] is not None]
    # The table shows the run that decides the goal: the lowest ratio (each run is in figures).
    decisive = min(runs, key=lambda r: r["ratio"] if r["ratio"] is not None else 0.0)
    return Result(
        NAME, "ok", MEASURES, GOAL, project=decisive["project_samples_s"], unit="samples/s",
        ceiling=decisive["ceiling_samples_s"], ceiling_label=CEILING, ratio=decisive["ratio"],
        met=bool(ratios) and min(ratios) >= 0.7,
        figures={"runs": runs, "feeds_entries_s": list(feeds), "window_s": seconds},
        bound=_bound(decisive), profile=profiles[-1] or None,
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
             pids: dict[str, int],
             feed: tuple[str, list[str], float] | None = None) -> dict[str, Any]:
    clients = FeedClients(port, path, n, processes=CLIENT_PROCESSES)
    feeder: Feeder | None = None
    try:
        opened = clients.connect()
        if opened["connected"] < n:
            raise RuntimeError(f"{path}: only {opened['connected']} of {n} WebSockets opened: "
                               f"{opened['errors']}")
        ctx.log(f"{n} clients connected to {path.split('?')[0]} in {opened['seconds']}s")
        if feed is not None:
            feeder = Feeder(*feed)
            pids = {**pids, "feeder": feeder.pid}
        time.sleep(1.0)
        window = CpuWindow(
            {**pids, **{f"clients-{i + 1}": pid for i, pid in enumerate(clients.pids)}}
        ).start()
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
    text = (f"at {last['clients']} clients the web tier used {p.get('web', 0):.0f}% of a core "
            f"(clients {_clients(p):.0f}%, Redis {p.get('redis', 0):.0f}%, feeder "
            f"{p.get('feeder', 0):.0f}%), the bare loop {c.get('server', 0):.0f}% (clients "
            f"{_clients(c):.0f}%)")
    if last["delivered_share"] >= KEEPS_UP:
        return text + (f": the web tier delivered every sample of the fastest feed "
                       f"({last['feed_entries_s']:,}/s), so the figure is a lower bound of its "
                       f"capacity")
    return text + (": the two cores were full; the server's one event loop is the bound when it "
                   "is near 100%, the receiving processes when they are")


def _clients(cpu: dict[str, float]) -> float:
    return sum(v for k, v in cpu.items() if k.startswith("clients"))
