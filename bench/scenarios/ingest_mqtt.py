"""ingest-mqtt: robodine/v1 telemetry through mosquitto into rd:telemetry, against mosquitto
delivering the same messages to a bare subscriber.

The same raw publisher (pre-encoded QoS 0 PUBLISH packets, the topics and JSON
payloads robots send) drives both. The ceiling counts what a bare subscriber
on ``robodine/v1/robots/+/telemetry`` receives; the project counts entries the
gateway (subscribed through aiomqtt) wrote to rd:telemetry. Each side gets the
ingest-udp treatment: the rate steps up (x1.4; in a full run a failed step is
repeated once), or halves while even the first step fails, and bisects; the
figure is the highest rate with zero loss that did not fall behind.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis

from bench import availability, prom
from bench.harness import Context, Result
from bench.loadgen.mqtt_raw import MqttPublisher, MqttSubscriber
from bench.procs import CpuWindow
from protocol.mqtt_topics import TOPIC_ROOT
from robodine.redisio.keys import KEYS

NAME = "ingest-mqtt"
MEASURES = "robodine/v1 telemetry via mosquitto -> rd:telemetry, highest msg/s with zero loss"
CEILING = "mosquitto publish -> bare subscriber rate, same publisher and payloads"
GOAL = ">= 0.5 of the ceiling"

ROBOTS = 1000
START_RATE = {"bare": 20_000, "gateway": 5_000}
MIN_RATE = 500
GROWTH = 1.4
MAX_RATE = 190 * ROBOTS
MAX_LAG_S = 0.5

BOUNDED_BY = """\
Where a step fails, mosquitto and the shared cores: on both sides the broker pushes back on
the publisher first. The gateway's own share is per message the checks (topic lookup, body
decode), the packet splitter and the flush to Redis.
"""


def unavailable() -> str | None:
    return availability.gateway_mqtt()


Counter = Callable[[], int]


def run(ctx: Context) -> Result:
    seconds = ctx.pick(0.8, 4.0)
    bisections = ctx.pick(0, 3)
    mosq, mqtt_port = ctx.mosquitto()
    redis_svc, url = ctx.redis()
    ports = ctx.config(
        ROBOTS,
        url,
        {
            "mqtt": {
                "enabled": True,
                "url": f"mqtt://127.0.0.1:{mqtt_port}",
                "persistent_session": False,
            }
        },
        robot_fields={"transport": "mqtt"},
    )
    robots = [r["id"] for r in ports.config.robots]
    publisher = MqttPublisher("127.0.0.1", mqtt_port, robots)
    client = redis.Redis.from_url(url)
    try:
        sub = MqttSubscriber("127.0.0.1", mqtt_port, f"{TOPIC_ROOT}/+/telemetry")
        try:
            pids = {"mosquitto": mosq.pid, "subscriber": sub.pid, "publisher": publisher.pid}
            ctx.log("ceiling: mosquitto -> bare subscriber")
            c_best, c_steps, c_bad = _search(
                ctx, "bare", publisher, sub.count, pids, seconds, bisections
            )
        finally:
            sub.close()
        gw = ctx.gateway(ROBOTS, url, ports=ports)
        pids = {
            "gateway": gw.service.pid,
            "mosquitto": mosq.pid,
            "redis": redis_svc.pid,
            "publisher": publisher.pid,
        }

        def xlen() -> int:
            return int(client.xlen(KEYS.telemetry))

        _warm_up(ctx, publisher, xlen, gw.service.log_tail)
        ctx.log("project: mosquitto -> gateway -> rd:telemetry")
        with ctx.profiling(gw.service, "ingest-mqtt-gateway") as profile:
            before = prom.scrape(gw.metrics_port)
            p_best, p_steps, p_bad = _search(
                ctx, "gateway", publisher, xlen, pids, seconds, bisections
            )
            after = prom.scrape(gw.metrics_port)
    finally:
        publisher.close()
        client.close()
    ratio = p_best / c_best if c_best else None
    drops = {
        name: prom.delta(after, before, name)
        for name in (
            "robodine_gateway_mqtt_dropped_total",
            "robodine_gateway_telemetry_dropped_total",
        )
    }
    return Result(
        NAME,
        "ok",
        MEASURES,
        GOAL,
        project=round(p_best),
        unit="msg/s",
        ceiling=round(c_best),
        ceiling_label=CEILING,
        ratio=round(ratio, 3) if ratio is not None else None,
        met=ratio is not None and ratio >= 0.5,
        figures={
            "robots": ROBOTS,
            "step_seconds": seconds,
            "gateway_drops": drops,
            "project_first_failed": p_bad,
            "ceiling_first_failed": c_bad,
        },
        steps=[{"side": "ceiling", **s} for s in c_steps]
        + [{"side": "gateway", **s} for s in p_steps],
        bound=_bound(p_bad, c_bad),
        profile=profile or None,
    )


def _warm_up(
    ctx: Context, publisher: MqttPublisher, count: Counter, log_tail: Callable[[], str]
) -> None:
    """Two samples per robot: robots come online when heard; wait until they are in Redis."""
    base = count()
    n = publisher.prepare(5000, 2 * ROBOTS / 5000)
    publisher.go()
    deadline = time.monotonic() + 20
    while count() - base < n:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {count() - base} of {n} warm-up samples reached Redis "
                f"(is the gateway subscribed?):\n{log_tail()}"
            )
        time.sleep(0.1)
    ctx.log(f"warm-up: {n} samples from {ROBOTS} robots arrived")


def _step(
    publisher: MqttPublisher, count: Counter, pids: dict[str, int], rate: int, seconds: float
) -> dict[str, Any]:
    publisher.prepare(rate, seconds)
    base = count()
    window = CpuWindow(pids).start()
    sent, secs = publisher.go()
    sent_at = time.perf_counter()
    cpu = window.stop()
    got, changed = -1, sent_at
    while True:
        n = count() - base
        t = time.perf_counter()
        if n != got:
            got, changed = n, t
        if got >= sent or t - changed > 1.0 or t - sent_at > 30:
            break
        time.sleep(0.01)
    achieved = sent / secs if secs else 0.0
    lag = max(0.0, changed - sent_at)
    clean = got >= sent and lag <= MAX_LAG_S and achieved >= 0.95 * rate
    why = []
    if got < sent:
        why.append(f"lost {sent - got:,}")
    if lag > MAX_LAG_S:
        why.append(f"backlog: last message {lag:.2f}s after the last publish")
    if achieved < 0.95 * rate:
        why.append(f"publisher reached only {achieved:,.0f}/s (the broker pushed back)")
    return {
        "target": rate,
        "sent": sent,
        "rate": round(achieved),
        "received": got,
        "lag_s": round(lag, 3),
        "cpu_pct": cpu,
        "clean": clean,
        "why_not": "; ".join(why),
    }


def _search(
    ctx: Context,
    side: str,
    publisher: MqttPublisher,
    count: Counter,
    pids: dict[str, int],
    seconds: float,
    bisections: int,
) -> tuple[float, list[dict[str, Any]], dict[str, Any] | None]:
    steps: list[dict[str, Any]] = []

    def confirmed(rate: int) -> dict[str, Any]:
        s: dict[str, Any] = {}
        for _ in range(ctx.pick(1, 2)):  # a full run repeats a failed step once
            s = _step(publisher, count, pids, rate, seconds)
            steps.append(s)
            ctx.log(
                f"{side} {rate:>7,}/s: sent at {s['rate']:,}/s, received {s['received']:,}"
                f" of {s['sent']:,}, lag {s['lag_s']:.2f}s, cpu {s['cpu_pct']} -> "
                + ("clean" if s["clean"] else f"FAILED: {s['why_not']}")
            )
            if s["clean"]:
                break
        return s

    good: dict[str, Any] | None = None
    bad: dict[str, Any] | None = None
    start = START_RATE[side] * (ctx.pick(2, 1) if side == "bare" else 1)  # quick: fewer steps
    rate = start
    while rate <= MAX_RATE:
        s = confirmed(rate)
        if not s["clean"]:
            bad = s
            break
        good = s
        rate = int(rate * GROWTH)
    rate = start // 2
    while good is None and rate >= MIN_RATE:  # even the first step failed: step down
        s = confirmed(rate)
        if s["clean"]:
            good = s
        else:
            bad = s
        rate //= 2
    for _ in range(bisections if good and bad else 0):
        assert good is not None
        assert bad is not None
        if bad["target"] - good["target"] < 0.04 * bad["target"]:
            break
        s = confirmed((good["target"] + bad["target"]) // 2)
        if s["clean"]:
            good = s
        else:
            bad = s
    return (float(good["rate"]) if good else 0.0), steps, bad


def _bound(p_bad: dict[str, Any] | None, c_bad: dict[str, Any] | None) -> str:
    if p_bad is None:
        return "the gateway kept up with every step (bounded by the step schedule)"
    cpu = p_bad["cpu_pct"]
    busiest = max(cpu, key=lambda k: cpu[k])
    text = (
        f"at {p_bad['target']:,}/s the gateway path failed ({p_bad['why_not']}); busiest "
        f"process {busiest} at {cpu[busiest]:.0f}% of a core "
        f"(gateway {cpu.get('gateway', 0):.0f}%)"
    )
    if c_bad is not None:
        text += f"; the bare subscriber failed at {c_bad['target']:,}/s ({c_bad['why_not']})"
    return text
