"""camera: robot cameras beside telemetry, through every real process.

Twenty camera robots (real TCP hellos, one camera each) send 640x480-sized
frames of 40 KB at 10 fps as signed chunks to the gateway's camera port, from
a process of their own; ten WebSocket viewers watch each camera
(/ws/video-streams, 200 in all); `robodine recorder` records every camera
(continuous). Beside it, telemetry of the same robots at 10 Hz goes to five
/ws/telemetry clients that time it end to end, as e2e-latency does. The same
telemetry runs first without the cameras: its p99 then is the baseline the
run with cameras is held to (within 20 %). Telemetry loss is what the gateway
accepted against what was sent; frames delivered are what the viewers got.
"""

from __future__ import annotations

import time
from typing import Any

from bench import availability, prom, webtier
from bench.harness import Context, Result
from bench.loadgen.cameras import CameraRobots, Viewers
from bench.loadgen.udp_sender import UdpSender
from bench.loadgen.wsfeed import FeedClients
from bench.online import bring_online
from bench.procs import CpuWindow, child_env, robodine_argv

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

BOUNDED_BY = """\
CPU: the gateway checks an HMAC and copies 8 MB/s of chunks, the web tier writes 80 MB/s to
200 sockets, the recorder writes 8 MB/s, on the same cores as Redis and the load generators;
on a 2-core box the telemetry p99 with cameras is the turn the gateway and web get then.
"""


def unavailable() -> str | None:
    return availability.web()


def run(ctx: Context) -> Result:
    seconds = ctx.pick(5.0, 20.0)
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
    try:
        cams.call("connect")
        bring_online(ctx, sender, url, CAMERAS)
        opened = clients.connect()
        if opened["connected"] < TEL_CLIENTS:
            raise RuntimeError(f"only {opened['connected']} telemetry clients: {opened}")
        pids = {
            "gateway": gw.service.pid,
            "web": web.pid,
            "recorder": recorder.pid,
            "redis": redis_svc.pid,
        }
        ctx.log(f"telemetry alone: {TELEMETRY_RATE} msg/s for {seconds:g}s")
        quiet = _phase(sender, clients, gw.metrics_port, seconds, pids)
        viewers = Viewers(ports.web, token, [f"{r.id}:front" for r in robots], VIEWERS)
        opened = viewers.call("connect", timeout=60)
        if opened["connected"] < CAMERAS * VIEWERS:
            raise RuntimeError(f"only {opened['connected']} viewers: {opened['errors']}")
        cams.call("start")
        time.sleep(1.0)
        viewers.call("start")
        ctx.log(f"with {CAMERAS} cameras at {FPS:g} fps and {CAMERAS * VIEWERS} viewers")
        loaded = _phase(sender, clients, gw.metrics_port, seconds, pids)
        watched = viewers.call("window")
        sent = cams.call("status")
    finally:
        if viewers is not None:
            viewers.close()
        cams.close()
        sender.close()
        clients.close()
    rss = {s.name: round(s.peak_rss_mb, 1) for s in (gw.service, web, recorder)}
    p99_quiet, p99_loaded = quiet["latency_ms"].get("p99"), loaded["latency_ms"].get("p99")
    ratio = p99_loaded / p99_quiet if p99_quiet and p99_loaded else None
    fps_min = watched["per_viewer_fps"][0]
    met = (
        ratio is not None
        and ratio <= 1.2
        and loaded["telemetry_lost"] == 0
        and fps_min >= 0.9 * FPS
    )
    figures = {
        "viewer_frames_s": watched["frames_s"],
        "per_viewer_fps": watched["per_viewer_fps"],
        "frames_sent": sent["frames"],
        "camera": loaded["camera"],
        "telemetry_p99_ms": {"without": p99_quiet, "with": p99_loaded},
        "telemetry_latency_ms": {"without": quiet["latency_ms"], "with": loaded["latency_ms"]},
        "telemetry_lost": {"without": quiet["telemetry_lost"], "with": loaded["telemetry_lost"]},
        "cpu_pct": {"without": quiet["cpu"], "with": loaded["cpu"]},
        "peak_rss_mb": rss,
    }
    ctx.log(
        f"viewers {watched['frames_s']} frames/s ({watched['per_viewer_fps']} per viewer); "
        f"telemetry p99 {p99_quiet} -> {p99_loaded} ms (from Redis "
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
        bound=_bound(loaded["cpu"], ratio, fps_min),
    )


def _phase(
    sender: UdpSender, clients: FeedClients, metrics_port: int, seconds: float, pids: dict[str, int]
) -> dict[str, Any]:
    sender.prepare(TELEMETRY_RATE, seconds, live=True)
    before = prom.scrape(metrics_port)
    clients.start()
    window = CpuWindow(pids).start()
    report = sender.go()
    time.sleep(0.5)  # the last samples' way through
    cpu = window.stop()
    got = clients.window()
    after = prom.scrape(metrics_port)
    received = prom.delta(after, before, "robodine_gateway_telemetry_received_total")
    camera = {
        "frames": prom.delta(after, before, "robodine_gateway_camera_frames_total"),
        "dropped": prom.delta(after, before, "robodine_gateway_camera_dropped_total"),
    }
    camera["frames"] = sum(camera["frames"].values())  # type: ignore[assignment]
    return {
        "latency_ms": got.get("latency_ms", {}),
        "from_redis_ms": got.get("from_redis_ms", {}),
        "cpu": cpu,
        "camera": camera,
        "telemetry_lost": int(report.sent - received.get("udp", 0.0)),
    }


def _bound(cpu: dict[str, float], ratio: float | None, fps_min: float) -> str:
    busiest = max(cpu, key=lambda k: cpu[k])
    return (
        f"telemetry p99 x{ratio if ratio is None else round(ratio, 2)} with cameras; the "
        f"slowest viewer got {fps_min} fps; the busiest process was {busiest} at "
        f"{cpu[busiest]:.0f}% of a core"
    )
