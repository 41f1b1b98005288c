"""redis-server and mosquitto of the benchmark's own, on free loopback ports.

Redis runs without persistence (no RDB, no AOF): the figures then measure
software, not the disk of whichever shared machine ran them, and the
project and its ceiling write to the same server either way.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from bench.procs import Service, free_port


def missing_binaries(*names: str) -> list[str]:
    return [n for n in names if shutil.which(n) is None]


def start_redis(workdir: Path) -> tuple[Service, str]:
    port = free_port()
    data = workdir / "redis"
    data.mkdir(exist_ok=True)
    svc = Service("redis", [
        "redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
        "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
    ], log=workdir / "redis.log").start()
    svc.wait_port(port)
    return svc, f"redis://127.0.0.1:{port}/0"


def start_mosquitto(workdir: Path) -> tuple[Service, int]:
    port = free_port()
    data = workdir / "mosquitto"
    data.mkdir(exist_ok=True)
    conf = data / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence false\n"
        "max_queued_messages 100000\n"
        + ("user root\n" if os.geteuid() == 0 else "")
    )
    svc = Service("mosquitto", ["mosquitto", "-c", str(conf)],
                  log=workdir / "mosquitto.log").start()
    svc.wait_port(port)
    return svc, port
