"""scale: the same load on 1 and on 2 gateway processes, and on 1 and on 2 web processes,
side by side: throughput and CPU per unit of work.

Gateways: ``[cluster] enabled`` (docs/scaling.md) on every run, so the only difference
is the count. Robots connect over TCP with the real handshake and send telemetry at a
fixed rate; with two gateways half of them connect to each. What counts is the samples
the gateways accepted per second (their ``telemetry_received`` counters) and the CPU of
every gateway process together, so ``cpu_per_1k`` is the cost of 1,000 samples a second.

Web: the fanout load (a feeder writing rd:telemetry, WebSocket clients on
``/ws/telemetry``) on one web process, then on two sharing one port with
``web.reuse_port`` (the kernel spreads the clients). What counts is the samples the
clients received per second and the CPU of every web process together.

The ratios are 2 over 1: throughput near 1 means the same load was carried (the load is
fixed, not the capacity), cost near 1 means a second process costs nothing per unit. On a
box with fewer free cores than processes the second process only shares the first's
cores: the ratio says what a box of that size gives, not what more cores would.
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from bench import availability, prom, webtier
from bench.harness import Context, Result
from bench.loadgen.tcp_robots import TcpRobots
from bench.procs import CpuWindow, Service, child_env, robodine_argv
from bench.scenarios import fanout
from robodine.testing.servers import free_port

NAME = "scale"
MEASURES = "1 vs 2 gateway processes and 1 vs 2 web processes, same load: throughput, CPU/unit"
CEILING = ""
GOAL = "2 processes carry the load of 1 at <= 1.3 x its CPU per unit"

HZ = 10.0

BOUNDED_BY = """\
The box's cores: the gateways (or web processes), Redis, the robots' and clients'
processes share them, so on a box with few cores two processes split the same cores
between them and add their own loops' fixed costs; the per-unit cost, not the total,
says what a second process costs.
"""


def unavailable() -> str | None:
    return availability.web()


def run(ctx: Context) -> Result:
    robots = ctx.pick(100, 1000)
    window_s = ctx.pick(2.0, 10.0)
    clients = ctx.pick(50, 200)
    feed = ctx.pick(5_000, 20_000)
    seconds = ctx.pick(2.0, 8.0)
    redis_svc, url = ctx.redis()
    ports = ctx.config(
        robots,
        url,
        {"cluster": {"enabled": True, "lease_ttl_s": 3.0}, "web": {"metrics_port": 0}},
    )
    # The first process of each pair stays up for the second run, which adds one.
    running = [_gateway(ctx, ports, "scale-a")]
    try:
        gateways = [_gateways(ctx, ports, redis_svc.pid, robots, window_s, running)]
        running.append(_gateway(ctx, ports, "scale-b"))
        gateways.append(_gateways(ctx, ports, redis_svc.pid, robots, window_s, running))
    finally:
        for svc, _, _ in running:
            svc.stop()
    webtier.add_user(ports.path, webtier.USER, webtier.PASSWORD, "admin", ctx.workdir)
    web_procs: list[Service] = []
    try:
        webs = []
        for n in (1, 2):
            web_procs.append(_web(ctx, ports, f"web-{n}"))
            webs.append(_webs(ctx, ports, url, redis_svc.pid, clients, feed, seconds, web_procs))
    finally:
        for svc in web_procs:
            svc.stop()
    g1, g2 = gateways
    w1, w2 = webs
    figures: dict[str, Any] = {
        "gateway": {
            "robots": robots,
            "hz": HZ,
            "window_s": window_s,
            "runs": gateways,
            "throughput_ratio": _ratio(g2["received_s"], g1["received_s"]),
            "cost_ratio": _ratio(g2["cpu_per_1k"], g1["cpu_per_1k"]),
        },
        "web": {
            "clients": clients,
            "feed_entries_s": feed,
            "window_s": seconds,
            "runs": webs,
            "throughput_ratio": _ratio(w2["samples_s"], w1["samples_s"]),
            "cost_ratio": _ratio(w2["cpu_per_1k"], w1["cpu_per_1k"]),
        },
    }
    costs = [figures["gateway"]["cost_ratio"], figures["web"]["cost_ratio"]]
    carried = [figures["gateway"]["throughput_ratio"], figures["web"]["throughput_ratio"]]
    met = all(c is not None and c <= 1.3 for c in costs) and all(
        t is not None and t >= 0.95 for t in carried
    )
    return Result(
        NAME,
        "ok",
        MEASURES,
        GOAL,
        project=figures["gateway"]["cost_ratio"],
        unit="x CPU per unit, 2 gateways over 1",
        met=met,
        figures=figures,
        bound=(
            f"gateways: {g1['received_s']:,.0f} samples/s at {g1['cpu_pct']:.0f}% of a core "
            f"with 1, {g2['received_s']:,.0f}/s at {g2['cpu_pct']:.0f}% with 2; web: "
            f"{w1['samples_s']:,.0f} samples/s at {w1['cpu_pct']:.0f}% with 1, "
            f"{w2['samples_s']:,.0f}/s at {w2['cpu_pct']:.0f}% with 2, on {_cores()} cores "
            "shared with Redis and the load's own processes"
        ),
    )


def _cores() -> int:
    return os.cpu_count() or 1


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def _gateway(ctx: Context, ports: Any, name: str) -> tuple[Service, int, int]:
    tcp, metrics = (ports.tcp, ports.metrics) if name == "scale-a" else (free_port(), free_port())
    svc = ctx.service(
        name,
        robodine_argv("gateway", "--config", str(ports.path)),
        env=child_env(
            ROBODINE_GATEWAY_NAME=name,
            ROBODINE_TCP_PORT=str(tcp),
            ROBODINE_UDP_PORT=str(free_port(socket.SOCK_DGRAM)),
            ROBODINE_GATEWAY_METRICS_PORT=str(metrics),
            ROBODINE_SPOOL_PATH=str(ctx.workdir / f"{name}.sqlite3"),
        ),
        cwd=ctx.workdir,
    )
    svc.wait_port(tcp, timeout=60)
    svc.wait_port(metrics, timeout=60)
    return svc, tcp, metrics


def _gateways(
    ctx: Context,
    ports: Any,
    redis_pid: int,
    robots: int,
    window_s: float,
    started: list[tuple[Service, int, int]],
) -> dict[str, Any]:
    n = len(started)
    names = [svc.name for svc, _, _ in started]
    configs = [(r.id, r.kind, r.key_bytes) for r in ports.config.robot_configs()]
    fleets = [
        TcpRobots("127.0.0.1", tcp, configs[i::n], HZ) for i, (_, tcp, _) in enumerate(started)
    ]
    try:
        deadline = time.perf_counter() + 120
        while sum(f.status()["connected"] for f in fleets) < robots:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"{n} gateways: not every robot connected in 120 s")
            time.sleep(0.2)
        time.sleep(ctx.pick(1.0, 3.0))
        pids = {name: svc.pid for name, (svc, _, _) in zip(names, started, strict=True)}
        before = [prom.scrape(m) for _, _, m in started]
        window = CpuWindow({**pids, "redis": redis_pid}).start()
        time.sleep(window_s)
        cpu = window.stop()
        after = [prom.scrape(m) for _, _, m in started]
    finally:
        for f in fleets:
            f.close()
    received = sum(
        prom.delta(a, b, "robodine_gateway_telemetry_received_total").get("tcp", 0)
        for a, b in zip(after, before, strict=True)
    )
    total = sum(cpu[name] for name in names)
    rate = received / window_s
    ctx.log(f"{n} gateway(s): {rate:,.0f} samples/s accepted, {total:.0f}% of a core together")
    return {
        "processes": n,
        "received_s": round(rate),
        "cpu_pct": round(total, 1),
        "cpu_each_pct": {name: round(cpu[name], 1) for name in names},
        "redis_cpu_pct": round(cpu["redis"], 1),
        "cpu_per_1k": round(total / (rate / 1000), 2) if rate else None,
    }


def _web(ctx: Context, ports: Any, name: str) -> Service:
    return ctx.service(
        name,
        robodine_argv("web", "--config", str(ports.path)),
        env=child_env(ROBODINE_WEB_NAME=name, ROBODINE_WEB_REUSE_PORT="true"),
        cwd=ctx.workdir,
    )


def _webs(
    ctx: Context,
    ports: Any,
    url: str,
    redis_pid: int,
    clients: int,
    feed: int,
    seconds: float,
    started: list[Service],
) -> dict[str, Any]:
    n = len(started)
    names = {svc.name for svc in started}
    _answering(ports.web, names, started)
    token = webtier.login(ports.web)
    robot_ids = [r["id"] for r in ports.config.robots]
    got = fanout._measure(
        ctx,
        ports.web,
        f"/ws/telemetry?token={token}",
        clients,
        seconds,
        {**{svc.name: svc.pid for svc in started}, "redis": redis_pid},
        feed=(url, robot_ids, feed),
    )
    total = sum(got["cpu"].get(name, 0.0) for name in names)
    rate = got["samples_s"]
    ctx.log(f"{n} web process(es): {rate:,.0f} samples/s delivered, {total:.0f}% of a core")
    return {
        "processes": n,
        "samples_s": round(rate),
        "delivered_share": round(rate / (feed * clients), 3),
        "cpu_pct": round(total, 1),
        "cpu_each_pct": {name: round(got["cpu"].get(name, 0.0), 1) for name in sorted(names)},
        "cpu_per_1k": round(total / (rate / 1000), 5) if rate else None,
    }


def _answering(port: int, names: set[str], started: list[Service]) -> None:
    """Every process answers on the shared port (a new connection each: the kernel picks)."""
    seen: set[str] = set()
    deadline = time.perf_counter() + 90
    while seen != names:
        if time.perf_counter() > deadline:
            raise TimeoutError(f"only {sorted(seen)} of {sorted(names)} answer on {port}")
        if not all(s.alive() for s in started):
            dead = next(s for s in started if not s.alive())
            raise RuntimeError(f"{dead.name} exited:\n{dead.log_tail()}")
        try:
            seen.add(str(webtier.request(port, "GET", "/health", timeout=2)["server"]))
        except (RuntimeError, OSError):
            time.sleep(0.2)
