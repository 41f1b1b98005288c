"""slow-client: one WebSocket client stops reading; do the others notice, and does the
server's memory stay bounded?

The same run measures the other clients' latency (robot send -> receive, as
in e2e-latency, at a load the web tier can carry) without the slow client
(phases A) and with one connected that never reads (phases B, a new one each
time), alternated A B A B A in a full run (A B in the quick one), so the
machine's drift between phases falls on both sides alike: the figure is the
mean of the B phases' p99 against the mean of the A phases'. The web
process's RSS is sampled through every phase.
"""

from __future__ import annotations

import time
from typing import Any

from bench import availability, webtier
from bench.harness import Context, Result
from bench.loadgen.udp_sender import UdpSender
from bench.loadgen.wsfeed import FeedClients
from bench.online import bring_online
from bench.procs import CpuWindow, Service

NAME = "slow-client"
MEASURES = "others' latency p99 with one WebSocket client that stops reading"
CEILING = "the same clients' p99 in the same run without it"
GOAL = "others' p99 unchanged (within 20 %); server memory bounded"

ROBOTS = 100
RATE = 500  # 5 Hz x 100 robots: within what the web tier carries, so latency means something
CLIENTS = 10
MEMORY_BOUND_MB = 32.0  # RSS growth during the stall that still counts as bounded

BOUNDED_BY = """\
Nothing at this load: the figure checks that a client that stops reading costs the others
nothing, so its ratio is noise around 1. Memory stays bounded because each feed socket's
kernel send buffer is capped (`web.feed_send_buffer_bytes`) and a send blocked for
`web.ws_send_timeout_s` closes the socket (4008).
"""


def unavailable() -> str | None:
    return availability.web()


def run(ctx: Context) -> Result:
    seconds = ctx.pick(2.0, 12.0)
    _, url = ctx.redis()
    ports = ctx.config(ROBOTS, url)
    gw = ctx.gateway(ROBOTS, url, ports=ports)
    web = ctx.web(ports)
    token = webtier.login(ports.web)
    path = f"/ws/telemetry?token={token}"
    sender = UdpSender(
        "127.0.0.1", gw.udp_port, [(r.id, r.key_bytes) for r in gw.config.robot_configs()]
    )
    clients = FeedClients(ports.web, path, CLIENTS, latency=True)
    slow: FeedClients | None = None
    phases: list[dict[str, Any]] = []
    try:
        bring_online(ctx, sender, url, ROBOTS)
        clients.connect()
        pids = {"web": web.pid, "gateway": gw.service.pid, "clients": clients.pid}
        for i, stalled in enumerate(ctx.pick([False, True], [False, True, False, True, False])):
            if stalled:
                slow = FeedClients(ports.web, path, 0, stalled=1)
                opened = slow.connect()
                if opened["stalled"] != 1:
                    raise RuntimeError(f"the slow client did not connect: {opened}")
            name = f"{'B with' if stalled else 'A without'} the slow client ({i + 1})"
            phases.append(_phase(ctx, name, sender, clients, web, pids, seconds))
            phases[-1]["stalled"] = stalled
            if slow is not None:
                slow.close()
                slow = None
    finally:
        sender.close()
        clients.close()
        if slow is not None:
            slow.close()
    without = [p for p in phases if not p["stalled"]]
    with_slow = [p for p in phases if p["stalled"]]
    base = sum(p["p99_ms"] for p in without) / len(without)
    p99 = sum(p["p99_ms"] for p in with_slow) / len(with_slow)
    ratio = p99 / base if base else None
    growth = max(p["rss_growth_mb"] for p in with_slow)
    peak = max(p["rss_peak_mb"] for p in with_slow)
    met = ratio is not None and ratio <= 1.2 and growth < MEMORY_BOUND_MB
    return Result(
        NAME,
        "ok",
        MEASURES,
        GOAL,
        project=round(p99, 3),
        unit="ms p99",
        ceiling=round(base, 3),
        ceiling_label=CEILING,
        ratio=round(ratio, 3) if ratio is not None else None,
        met=met,
        figures={
            "phases": phases,
            "load_msg_s": RATE,
            "clients": CLIENTS,
            "memory_bound_mb": MEMORY_BOUND_MB,
        },
        bound=(
            f"others' p99 {p99:.2f} ms with the stalled client vs {base:.2f} ms without "
            f"(means of {len(with_slow)} and {len(without)} alternated phases); web RSS grew "
            f"at most {growth:.1f} MB while one stalled (peak {peak:.0f} MB)"
        ),
    )


def _phase(
    ctx: Context,
    name: str,
    sender: UdpSender,
    clients: FeedClients,
    web: Service,
    pids: dict[str, int],
    seconds: float,
) -> dict[str, Any]:
    sender.prepare(RATE, seconds, live=True)
    rss0 = web.sample_memory()[0]
    clients.start()
    window = CpuWindow(pids).start()
    report = sender.go()
    time.sleep(0.3)
    cpu = window.stop()
    got = clients.window()
    rss1, peak = web.sample_memory()
    lat = got.get("latency_ms", {})
    out = {
        "phase": name,
        "p50_ms": lat.get("p50"),
        "p99_ms": lat.get("p99"),
        "max_ms": lat.get("max"),
        "samples": got["samples"],
        "messages": got["messages"],
        "sent": report.sent,
        "delivered_share": round(got["samples"] / (report.sent * CLIENTS), 4)
        if report.sent
        else 0.0,
        "rss_start_mb": round(rss0, 1),
        "rss_end_mb": round(rss1, 1),
        "rss_growth_mb": round(rss1 - rss0, 1),
        "rss_peak_mb": round(peak, 1),
        "cpu_pct": cpu,
        "closes": got["closes"],
    }
    ctx.log(
        f"{name}: p50 {out['p50_ms']} ms, p99 {out['p99_ms']} ms, delivered "
        f"{out['delivered_share']:.1%}, web rss {rss0:.0f} -> {rss1:.0f} MB, cpu {cpu}"
    )
    return out
