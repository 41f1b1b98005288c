"""ingest-tcp: what 1,000 robot TCP connections sending telemetry at 10 Hz cost the gateway.

All robots connect with the real handshake (challenge, signed hello,
welcome), then send telemetry frames over TCP at 10 Hz plus a heartbeat per
``heartbeat_s``. Over a measuring window the gateway's CPU (% of one core,
from /proc) and RSS are read, and what it accepted is checked against what
was sent, so a cheap figure cannot come from dropped work.
"""

from __future__ import annotations

import time
from typing import Any

import redis

from bench import prom
from bench.harness import Context, Result
from bench.loadgen.tcp_robots import TcpRobots
from bench.procs import CpuWindow
from robodine.redisio.keys import KEYS
from robodine.testing.servers import missing_binaries

NAME = "ingest-tcp"
MEASURES = "1,000 robot TCP connections at 10 Hz each: gateway CPU and memory"
CEILING = ""
GOAL = "gateway < 50 % of one core, RSS < 150 MB"

ROBOTS = 1000
HZ = 10.0

BOUNDED_BY = """\
Per-frame work in the gateway's one event loop: epoll and one recv per frame for 1,000
sockets, the writer's flushes to Redis, the body decode. Most of the RSS is the interpreter,
its imports and 1,000 sessions before any traffic.
"""


def unavailable() -> str | None:
    missing = missing_binaries("redis-server")
    return f"{', '.join(missing)} not installed" if missing else None


def run(ctx: Context) -> Result:
    window_s = ctx.pick(3.0, 20.0)
    settle_s = ctx.pick(1.0, 3.0)
    redis_svc, url = ctx.redis()
    gw = ctx.gateway(ROBOTS, url)
    client = redis.Redis.from_url(url)
    fleet = TcpRobots(
        "127.0.0.1",
        gw.tcp_port,
        [(r.id, r.kind, r.key_bytes) for r in gw.config.robot_configs()],
        HZ,
    )
    try:
        ctx.log(f"connecting {ROBOTS} robots")
        status = _wait_connected(ctx, fleet)
        ctx.log(
            f"{status['connected']} connected in {status['connect_s']}s; "
            f"settling {settle_s:g}s, then measuring {window_s:g}s"
        )
        time.sleep(settle_s)
        pids = {"gateway": gw.service.pid, "redis": redis_svc.pid, "robots": fleet.pid}
        before, sent0, xlen0 = (
            prom.scrape(gw.metrics_port),
            fleet.status(),
            client.xlen(KEYS.telemetry),
        )
        window = CpuWindow(pids).start()
        rss_samples = []
        with ctx.profiling(gw.service, "ingest-tcp-gateway") as profile:
            deadline = time.perf_counter() + window_s
            while (left := deadline - time.perf_counter()) > 0:
                time.sleep(min(1.0, left))
                rss_samples.append(gw.service.sample_memory()[0])
                ctx.log(f"gateway rss {rss_samples[-1]:.0f} MB")
        cpu = window.stop()
        after, sent1 = prom.scrape(gw.metrics_port), fleet.status()
        time.sleep(0.5)  # let the writer flush what the window's last frames produced
        xlen1 = client.xlen(KEYS.telemetry)
    finally:
        fleet.close()
        client.close()

    received = prom.delta(after, before, "robodine_gateway_telemetry_received_total").get("tcp", 0)
    rejected = prom.delta(after, before, "robodine_gateway_frames_rejected_total")
    sent = sent1["telemetry"] - sent0["telemetry"]
    rss_now, rss_peak = gw.service.sample_memory()
    ctx.log(
        f"cpu gateway {cpu['gateway']:.0f}% (redis {cpu['redis']:.0f}%, robots "
        f"{cpu['robots']:.0f}%), received {received / window_s:,.0f}/s of "
        f"{sent / window_s:,.0f}/s sent, rss {rss_now:.0f} MB (peak {rss_peak:.0f})"
    )
    figures: dict[str, Any] = {
        "robots_connected": status["connected"],
        "connect_s": status["connect_s"],
        "window_s": window_s,
        "sent_msg_s": round(sent / window_s),
        "received_msg_s": round(received / window_s),
        "entries_msg_s": round((xlen1 - xlen0) / window_s),
        "heartbeats_s": round((sent1["heartbeats"] - sent0["heartbeats"]) / window_s),
        "frames_rejected": rejected,
        "gateway_rss_mb": round(rss_now, 1),
        "gateway_peak_rss_mb": round(rss_peak, 1),
        "cpu_pct": cpu,
        "robot_errors": {k: v for k, v in sent1.items() if k.startswith("error")},
        "connections_lost": sent1["lost"],
    }
    met = cpu["gateway"] < 50 and rss_peak < 150
    return Result(
        NAME,
        "ok",
        MEASURES,
        GOAL,
        project=cpu["gateway"],
        unit="% of a core",
        met=met,
        figures=figures,
        bound=_bound(cpu, received, sent, rss_peak),
        profile=profile or None,
    )


def _wait_connected(ctx: Context, fleet: TcpRobots) -> dict[str, Any]:
    deadline = time.perf_counter() + 120
    last = -1
    while time.perf_counter() < deadline:
        status = fleet.status()
        done = status["connected"] + status["connect_failed"]
        if done >= ROBOTS:
            if status["connect_failed"]:
                raise RuntimeError(
                    f"{status['connect_failed']} robots could not connect: "
                    f"{status.get('last_error')}"
                )
            return status
        if status["connected"] // 100 != last // 100:
            ctx.log(f"{status['connected']} connected")
            last = status["connected"]
        time.sleep(0.2)
    raise TimeoutError(f"only {fleet.status()['connected']} of {ROBOTS} robots connected in 120s")


def _bound(cpu: dict[str, float], received: float, sent: float, rss: float) -> str:
    loss = (
        f"; {sent - received:,.0f} of {sent:,.0f} samples were not accepted"
        if received < sent * 0.99
        else ""
    )
    return (
        f"per-frame work in the gateway's one event loop: {cpu['gateway']:.0f}% of a core for "
        f"{sent:,.0f} telemetry frames (+ heartbeats); peak RSS {rss:.0f} MB{loss}"
    )
