"""`robodine status`: what a healthy system looks like, and exit status 1 and 2 when parts
are missing: the web tier stopped, the gateway stopped, Redis stopped."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.ops.system import System, running
from tests.servers import RedisServer

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def status(system: System) -> tuple[int, dict[str, Any]]:
    out = system.robodine("status", "--json", timeout=60)
    assert out.returncode in (0, 1, 2), out.stderr
    return out.returncode, json.loads(out.stdout)


def wait_online(url: str, n: int, timeout: float = 30) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ids = client.smembers("rd:robots")
        states = [client.hget(f"rd:robot:{i!s}", "connection") for i in ids]  # str: decoded
        if states.count("online") >= n:
            return
        time.sleep(0.2)
    raise AssertionError(f"fewer than {n} robots online")


def test_status_is_0_then_1_without_web_then_2_without_gateway_or_redis(
    redis_private: RedisServer, tmp_path: Path
) -> None:
    with running(tmp_path / "box", redis_private.url, "gateway", "web", "sim") as system:
        wait_online(redis_private.url, 3)
        code, doc = status(system)
        assert code == 0, json.dumps(doc, indent=1)
        s = doc["sections"]
        assert doc["status"] == "ok"
        assert s["redis"]["details"]["aof"] is True and s["redis"]["details"]["version"]
        assert s["broker"]["state"] == "off"
        assert s["gateway"]["details"]["robots"]["online"] == 3
        assert s["robots"]["details"]["by_kind"] == {
            "cooking": {"online": 1},
            "serving": {"online": 2},
        }
        assert s["spool"]["details"]["depth"] == 0
        groups = s["streams"]["details"]["streams"]["rd:events"]["groups"]
        assert "projector" in groups and s["projector"]["state"] == "ok"
        assert s["database"]["details"]["revision"] == s["database"]["details"]["head"]
        assert s["outbox"]["details"]["waiting"] == 0

        text = system.robodine("status")
        assert text.returncode == 0
        assert text.stdout.splitlines()[0].startswith("robodine ") and ": ok (" in text.stdout

        system.stop("web")
        code, doc = status(system)
        assert code == 1 and doc["status"] == "degraded"
        assert doc["sections"]["web"]["state"] == "degraded"
        assert "systemctl status robodine-web" in doc["sections"]["web"]["problems"][0]

        system.stop("sim")
        system.stop("gateway")
        code, doc = status(system)
        assert code == 2 and doc["sections"]["gateway"]["state"] == "down"
        # the snapshots outlive the gateway: not taken for robots online
        assert doc["sections"]["robots"]["details"]["by_kind"]["serving"] == {"offline": 2}

        redis_private.stop()
        out = system.robodine("status", timeout=60)
        assert out.returncode == 2
        assert "redis      DOWN      not reachable at" in out.stdout
        assert "systemctl start redis-server" in out.stdout
