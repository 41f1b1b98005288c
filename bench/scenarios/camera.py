"""camera: robot cameras beside telemetry, through every real process.

Twenty camera robots (real TCP hellos, one camera each) send 640x480-sized
frames of 40 KB at 10 fps as signed chunks to the gateway's camera port, from
a process of their own; ten WebSocket viewers watch each camera
(/ws/video-streams, 200 in all); `robodine recorder` records every camera
(continuous). Beside it, telemetry of the same robots at 10 Hz goes to five
/ws/telemetry clients that time it end to end, as e2e-latency does. The
telemetry runs in phases without and with the cameras, interleaved (without,
with, with, without, per round) so that both sides see the same stretch of
the machine's weather: on shared VMs one window's p99 moves between identical
runs by more than the cameras' effect (bench/JOURNAL.md). Each side's
samples are pooled over its phases; the pooled p99 without cameras is the
baseline the one with cameras is held to (within 20 %). Telemetry loss is what
the gateway accepted against what was sent; frames delivered are what the
viewers got in the phases with cameras.
"""

from __future__ import annotations

import os
import statistics
import time
from array import array
from typing import Any

from bench import availability, prom, webtier
from bench.harness import Context, Result
from bench.loadgen.cameras import CameraRobots, Viewers
from bench.loadgen.udp_sender import UdpSender
from bench.loadgen.wakeup import WakeupProbe, steal_ticks
from bench.loadgen.wsfeed import FeedClients
from bench.online import bring_online
from bench.procs import CpuWindow, child_env, robodine_argv
from bench.stats import percentiles

NAME = "camera"
MEASURES = "20 cameras x 10 fps x 40 KB to 10 viewers each, telemetry beside it"
CEILING = ""
GOAL = "viewers get ~10 fps each, no telemetry lost, telemetry p99 within 20 % of no cameras"

CAMERAS = 20
FPS = 10.0
FRAME_BYTES = 40_000
VIEWERS = 10  # per camera
TELEMETRY_RATE = 200  # the 20 robots at 10 Hz
TEL_CLIENTS = 5

_TICKS = os.sysconf("SC_CLK_TCK")

BOUNDED_BY = """\
The cores: with the cameras on, the gateway checks and copies 8 MB/s of chunks, the web tier
writes 80 MB/s to 200 sockets, the recorder writes 8 MB/s, and the load generators add as much
again: about a core more on the 2 the telemetry chain runs on (on a VM, steal besides). Every
process then waits longer to run: a probe that only sleeps 1 ms (bench/loadgen/wakeup.py) is
late by about as much more as telemetry is, phase by phase. Telemetry p99 over the probe's p99
is the product's share, reported beside the raw ratio (the goal's figure).
"""


def unavailable() -> str | None:
    return availability.web()


def run(ctx: Context) -> Result:
    seconds = ctx.pick(3.0, 8.0)  # one phase
    rounds = ctx.pick(1, 3)  # of without, with, with, without
    redis_svc, url = ctx.redis()
    ports = ctx.config(CAMERAS, url, {"recorder": {"continuous": True, "segment_s": 10.0}})
    gw = ctx.gateway(CAMERAS, url, ports=ports)
    web = ctx.web(ports)
    recorder = ctx.service(
        "recorder",
        robodine_argv("recorder", "--config", str(ports.path)),
        env=child_env(),
        cwd=ctx.workdir,
    )
    token = webtier.login(ports.web)
    robots = gw.config.robot_configs()
    cams = CameraRobots(
        gw.tcp_port, [(r.id, str(r.kind), r.key_bytes) for r in robots], FPS, FRAME_BYTES
    )
    sender = UdpSender("127.0.0.1", gw.udp_port, [(r.id, r.key_bytes) for r in robots])
    clients = FeedClients(ports.web, f"/ws/telemetry?token={token}", TEL_CLIENTS, latency=True)
    viewers: Viewers | None = None
    probe = WakeupProbe()
    sides: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    try:
        cams.call("connect")
        bring_online(ctx, sender, url, CAMERAS)
        opened = clients.connect()
        if opened["connected"] < TEL_CLIENTS:
            raise RuntimeError(f"only {opened['connected']} telemetry clients: {opened}")
        viewers = Viewers(ports.web, token, [f"{r.id}:front" for r in robots], VIEWERS)
        opened = viewers.call("connect", timeout=60)
        if opened["connected"] < CAMERAS * VIEWERS:
            raise RuntimeError(f"only {opened['connected']} viewers: {opened['errors']}")
        pids = {
            "camera-robots": cams.pid,
            "viewers": viewers.pid,
            "gateway": gw.service.pid,
            "web": web.pid,
            "recorder": recorder.pid,
            "redis": redis_svc.pid,
        }
        ctx.log(
            f"{rounds} round(s) of {seconds:g}s phases without, with, with, without "
            f"{CAMERAS} cameras at {FPS:g} fps to {CAMERAS * VIEWERS} viewers; "
            f"telemetry {TELEMETRY_RATE} msg/s throughout"
        )
        for with_cameras in [False, True, True, False] * rounds:
            if with_cameras:
                cams.call("start")
                time.sleep(1.0)
                viewers.call("start")
            phase = _phase(sender, clients, probe, gw.metrics_port, seconds, pids)
            if with_cameras:
                phase["watched"] = viewers.call("window")
                cams.call("pause")
                time.sleep(1.0)  # the last frames' way through, before telemetry runs alone
            sides[with_cameras].append(phase)
            ctx.log(
                f"{'with' if with_cameras else 'without'} cameras: telemetry p99 "
                f"{phase['latency_ms'].get('p99')} ms; a 1 ms sleep's lateness p99 "
                f"{phase['wakeup_late_ms'].get('p99')} ms; steal {phase['steal_pct']} % of a CPU"
            )
        sent = cams.call("status")
    finally:
        if viewers is not None:
            viewers.close()
        cams.close()
        probe.close()
        sender.close()
        clients.close()
    rss = {s.name: round(s.peak_rss_mb, 1) for s in (gw.service, web, recorder)}
    quiet, loaded = _pool(sides[False]), _pool(sides[True])
    p99_quiet, p99_loaded = quiet["latency_ms"].get("p99"), loaded["latency_ms"].get("p99")
    ratio = p99_loaded / p99_quiet if p99_quiet and p99_loaded else None
    watched = [p["watched"] for p in sides[True]]
    fps_min = min(w["per_viewer_fps"][0] for w in watched)
    fps_max = max(w["per_viewer_fps"][1] for w in watched)
    frames_s = round(sum(w["frames_s"] for w in watched) / len(watched), 1)
    met = (
        ratio is not None
        and ratio <= 1.2
        and loaded["telemetry_lost"] == 0
        and fps_min >= 0.9 * FPS
    )
    figures = {
        "viewer_frames_s": frames_s,
        "per_viewer_fps": [fps_min, fps_max],
        "frames_sent": sent["frames"],
        "camera": loaded["camera"],
        "phases": {"rounds": rounds, "seconds": seconds, "order": "without, with, with, without"},
        "telemetry_p99_ms": {"without": p99_quiet, "with": p99_loaded},
        "telemetry_p99_ms_per_phase": {
            "without": [p["latency_ms"].get("p99") for p in sides[False]],
            "with": [p["latency_ms"].get("p99") for p in sides[True]],
        },
        # The machine's share, same windows: how late a process doing nothing of the
        # product's wakes from a 1 ms sleep, and the CPU time the host took (steal).
        "wakeup_late_p99_ms_per_phase": {
            "without": [p["wakeup_late_ms"].get("p99") for p in sides[False]],
            "with": [p["wakeup_late_ms"].get("p99") for p in sides[True]],
        },
        "steal_pct_per_phase": {
            "without": [p["steal_pct"] for p in sides[False]],
            "with": [p["steal_pct"] for p in sides[True]],
        },
        "telemetry_latency_ms": {"without": quiet["latency_ms"], "with": loaded["latency_ms"]},
        "from_redis_ms": {"without": quiet["from_redis_ms"], "with": loaded["from_redis_ms"]},
        "telemetry_lost": {"without": quiet["telemetry_lost"], "with": loaded["telemetry_lost"]},
        "telemetry_p99_over_wakeup_p99": {
            "without": _over_probe(quiet),
            "with": _over_probe(loaded),
        },
        "cpu_pct": {"without": quiet["cpu"], "with": loaded["cpu"]},
        "peak_rss_mb": rss,
    }
    ctx.log(
        f"viewers {frames_s} frames/s ({[fps_min, fps_max]} per viewer); "
        f"telemetry p99 pooled {p99_quiet} -> {p99_loaded} ms (from Redis "
        f"{quiet['from_redis_ms'].get('p99')} -> {loaded['from_redis_ms'].get('p99')}); "
        f"lost {figures['telemetry_lost']}; "
        f"cpu {loaded['cpu']}; rss {rss}"
    )
    return Result(
        NAME,
        "ok",
        MEASURES,
        GOAL,
        project=ratio,
        unit="x telemetry p99",
        met=met,
        figures=figures,
        peak_rss_mb=rss,
        bound=_bound(loaded, quiet, ratio, fps_min),
    )


def _phase(
    sender: UdpSender,
    clients: FeedClients,
    probe: WakeupProbe,
    metrics_port: int,
    seconds: float,
    pids: dict[str, int],
) -> dict[str, Any]:
    sender.prepare(TELEMETRY_RATE, seconds, live=True)
    before = prom.scrape(metrics_port)
    clients.start()
    probe.start()
    window = CpuWindow(pids).start()
    stolen, t0 = steal_ticks(), time.perf_counter()
    report = sender.go()
    time.sleep(0.5)  # the last samples' way through
    cpu = window.stop()
    steal_pct = 100.0 * (steal_ticks() - stolen) / _TICKS / (time.perf_counter() - t0)
    wakeup = probe.window()
    got = clients.window(raw=True)
    after = prom.scrape(metrics_port)
    received = prom.delta(after, before, "robodine_gateway_telemetry_received_total")
    frames = prom.delta(after, before, "robodine_gateway_camera_frames_total")
    dropped = prom.delta(after, before, "robodine_gateway_camera_dropped_total")
    return {
        "latency_ms": got.get("latency_ms", {}),
        "raw_latency_ms": got.get("raw_latency_ms", array("d")),
        "raw_from_redis_ms": got.get("raw_from_redis_ms", array("d")),
        "cpu": cpu,
        "steal_pct": round(steal_pct, 2),  # of one CPU
        "wakeup_late_ms": wakeup,
        "camera": {"frames": sum(frames.values()), "dropped": dropped},
        "telemetry_lost": int(report.sent - received.get("udp", 0.0)),
    }


def _pool(phases: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's phases as one: the samples pooled, CPU averaged, losses and frames summed."""
    latency, from_redis = array("d"), array("d")
    wakeups = [p["wakeup_late_ms"].get("p99") for p in phases if p["wakeup_late_ms"].get("p99")]
    for p in phases:
        latency.extend(p["raw_latency_ms"])
        from_redis.extend(p["raw_from_redis_ms"])
    cpu = {k: round(sum(p["cpu"][k] for p in phases) / len(phases), 1) for k in phases[0]["cpu"]}
    dropped: dict[str, float] = {}
    for p in phases:
        for k, v in p["camera"]["dropped"].items():
            dropped[k] = dropped.get(k, 0.0) + v
    return {
        "latency_ms": percentiles(latency),
        "from_redis_ms": percentiles(from_redis),
        # each phase's own p99, their median: the probe's samples are not kept
        "wakeup_late_ms": {"p99": statistics.median(wakeups)} if wakeups else {},
        "steal_pct": round(sum(p["steal_pct"] for p in phases) / len(phases), 2),
        "cpu": cpu,
        "camera": {"frames": sum(p["camera"]["frames"] for p in phases), "dropped": dropped},
        "telemetry_lost": sum(p["telemetry_lost"] for p in phases),
    }


def _bound(
    loaded: dict[str, Any], quiet: dict[str, Any], ratio: float | None, fps_min: float
) -> str:
    cpu = loaded["cpu"]
    busiest = max(cpu, key=lambda k: cpu[k])
    share = {k: _over_probe(side) for k, side in (("without", quiet), ("with", loaded))}
    return (
        f"telemetry p99 x{ratio if ratio is None else round(ratio, 2)} with cameras; a 1 ms "
        f"sleep's lateness p99 {quiet['wakeup_late_ms'].get('p99')} -> "
        f"{loaded['wakeup_late_ms'].get('p99')} ms and steal {quiet['steal_pct']} -> "
        f"{loaded['steal_pct']} % of a CPU in the same phases; telemetry p99 over the probe's "
        f"{share['without']} -> {share['with']}; the slowest viewer got {fps_min} fps; the "
        f"busiest process was {busiest} at {cpu[busiest]:.0f}% of a core"
    )


def _over_probe(side: dict[str, Any]) -> float | None:
    tel, probe = side["latency_ms"].get("p99"), side["wakeup_late_ms"].get("p99")
    return round(tel / probe, 2) if tel and probe else None
