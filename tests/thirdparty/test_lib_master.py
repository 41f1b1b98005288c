"""`robodine sim`'s VDA 5050 AGV, driven by a master control nobody here wrote: vda-5050-lib's
MasterController, in 2.0.0 (and 1.1.0).

The simulator runs as the command, ``robodine sim --transport vda5050
--vda-version agv-1=VERSION``, against a real mosquitto; the library's master
assigns an order with a base and a horizon and then the update that releases
the rest, cancels one mid-route, pauses and resumes, runs our e-stop plan and
sees the last will when the simulator is killed. The library checks every
message the simulator sends with its own validators before it acts on it (an
invalid one would stall the flow), and the wire is checked again at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from protocol.vda5050 import (
    AGV_PUBLISHES,
    AgvId,
    HeaderCounter,
    Order,
    RouteNode,
    Subtopic,
    build_order,
    build_order_update,
    encode,
)
from tests.integration.mqtt_support import FLOOR
from tests.servers import MosquittoServer
from tests.support.thirdparty import Wire
from tests.thirdparty.vdalib import NodeParty

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
AGV = AgvId("Acme", "SN-1")
_HEADER = ("headerId", "timestamp", "version", "manufacturer", "serialNumber")
_SPOTS = {
    p["name"]: (p["x"], p["y"]) for p in (FLOOR["kitchen_pass"], *FLOOR["docks"], *FLOOR["tables"])
}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"


def sim_config(path: Path, broker_url: str) -> Path:
    """The simulator's config: the corridor floor and one VDA 5050 AGV, agv-1 (Acme/SN-1)."""
    sections: dict[str, dict[str, Any]] = {
        "mqtt": {"enabled": True, "url": broker_url},
        "vda5050": {"enabled": True},
        "logging": {"level": "warning"},
        "floor": FLOOR,
    }
    lines = []
    for name, table in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml(v)}" for k, v in table.items()]
    lines += [
        "[[robots]]",
        'id = "agv-1"',
        'kind = "serving"',
        'vda = {manufacturer = "Acme", serial = "SN-1"}',
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@contextlib.asynccontextmanager
async def robodine_sim(
    config: Path, version: str, speed: float
) -> AsyncIterator[asyncio.subprocess.Process]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "robodine",
        "sim",
        "--config",
        str(config),
        "--transport",
        "vda5050",
        "--vda-version",
        f"agv-1={version}",
        "--speed",
        str(speed),
        "--hz",
        "10",
        cwd=REPO,
        env={**os.environ, "ROBODINE_LOGGING_LEVEL": "warning"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 15)
        assert b"Traceback" not in err, err.decode()


class Master:
    """vda-5050-lib's MasterController for agv-1, and what it reported."""

    def __init__(self, party: NodeParty, version: str) -> None:
        self.party = party
        self.version = version
        self.headers = HeaderCounter(version=version)
        self.ids = 0

    def route(self, *names: str) -> list[RouteNode]:
        return [RouteNode(n, *_SPOTS[n], allowed_deviation_xy=0.3) for n in names]

    def order(self, order_id: str, names: tuple[str, ...], released: int) -> Order:
        return build_order(
            self.headers.header(AGV, Subtopic.ORDER, 1e9),
            order_id,
            self.route(*names),
            map_id="restaurant",
            released=released,
        )

    def update(self, previous: Order, names: tuple[str, ...]) -> Order:
        return build_order_update(
            self.headers.header(AGV, Subtopic.ORDER, 1e9), previous, self.route(*names)
        )

    async def assign(self, order: Order) -> int:
        """Our order (built and encoded in the master's version) without its header: the
        library writes its own."""
        doc = {k: v for k, v in json.loads(encode(order)).items() if k not in _HEADER}
        return await self._send({"cmd": "order", "order": doc})

    async def instant(self, *actions: dict[str, Any]) -> int:
        return await self._send({"cmd": "instant", "actions": list(actions)})

    async def _send(self, msg: dict[str, Any]) -> int:
        self.ids += 1
        await self.party.send({**msg, "id": self.ids})
        published = await self.party.wait(("published", "error"), id=self.ids)
        assert published["event"] == "published" and not published.get("discarded"), published
        return self.ids

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.party.seen("state")[-1]["state"]
        return state

    def mark(self) -> int:
        return len(self.party.events)

    async def until(self, check: Any, timeout: float = 15.0, since: int = 0) -> dict[str, Any]:
        """The first state reported (after event ``since``) or within ``timeout`` for which
        ``check`` holds."""
        events = self.party.events
        event = await self.party.wait(
            "state", timeout=timeout, where=lambda e: check(e["state"]) and events.index(e) >= since
        )
        state: dict[str, Any] = event["state"]
        return state

    async def action(self, id_: int, status: str, timeout: float = 10.0) -> dict[str, Any]:
        return await self.party.wait("action", id=id_, status=status, timeout=timeout)


def action(kind: str, action_id: str, blocking: str = "HARD") -> dict[str, Any]:
    return {"actionType": kind, "actionId": action_id, "blockingType": blocking}


@contextlib.asynccontextmanager
async def driven(
    tmp_path: Path, mosquitto: MosquittoServer, version: str, *, speed: float = 4.0
) -> AsyncIterator[tuple[Master, asyncio.subprocess.Process]]:
    """The library's master and the simulator, which drives at ``speed`` m/s."""
    config = sim_config(tmp_path / "sim.toml", mosquitto.url)
    party = NodeParty(
        {
            "role": "master",
            "broker": f"mqtt://127.0.0.1:{mosquitto.port}",
            "version": version,
            "agv": {"manufacturer": "Acme", "serialNumber": "SN-1"},
        }
    )
    async with party, robodine_sim(config, version, speed) as proc:
        master = Master(party, version)
        await party.wait("connection", where=lambda e: e["state"] == "ONLINE", timeout=20)
        await master.until(lambda s: s["lastNodeId"] == "dock-1")
        yield master, proc


@pytest.mark.parametrize("version", ["2.0.0", "1.1.0"])
async def test_the_library_drives_an_order_with_a_horizon_and_its_update(
    vdalib: Path, tmp_path: Path, mosquitto_private: MosquittoServer, wire: Wire, version: str
) -> None:
    async with driven(tmp_path, mosquitto_private, version) as (m, _):
        first = m.order("o-1", ("dock-1", "pass", "T1", "T2", "T3"), released=3)
        n = await m.assign(first)
        done = await m.party.wait("order_processed", id=n, timeout=15)
        assert (done["error"], done["byCancelation"], done["active"]) == (None, False, True)
        st = await m.until(lambda s: s["lastNodeId"] == "T1")  # the decision point
        assert not st["driving"] and [n["released"] for n in st["nodeStates"]] == [False, False]
        traversed = [e["nodeId"] for e in m.party.seen("node_traversed", id=n)]
        assert traversed == ["dock-1", "pass", "T1"]
        u = await m.assign(m.update(first, ("T2", "T3")))
        done = await m.party.wait("order_processed", id=u, timeout=15)
        assert (done["error"], done["active"], done["orderUpdateId"]) == (None, False, 1)
        st = await m.until(lambda s: s["lastNodeId"] == "T3" and not s["driving"])
        assert (st["orderId"], st["orderUpdateId"], st["lastNodeId"]) == ("o-1", 1, "T3")
        assert st["agvPosition"]["x"] == 10.0 and not st["errors"]
    counts = await wire.check(version, ours=AGV_PUBLISHES)
    assert counts["order"] == 2 and counts["state"] > 5
    assert ("factsheet" in counts) == (version == "2.0.0")


async def test_the_library_cancels_an_order_mid_route(
    vdalib: Path, tmp_path: Path, mosquitto_private: MosquittoServer, wire: Wire
) -> None:
    async with driven(tmp_path, mosquitto_private, "2.0.0", speed=1.5) as (m, _):
        n = await m.assign(m.order("o-2", ("dock-1", "pass", "T1", "T2", "T3"), released=5))
        await m.party.wait("node_traversed", id=n, nodeId="pass", timeout=10)
        mark = m.mark()
        c = await m.instant(action("cancelOrder", "cancel-1"))
        await m.action(c, "FINISHED")
        done = await m.party.wait("order_processed", id=n, timeout=10)
        assert done["byCancelation"] is True and done["error"] is None
        st = await m.until(lambda s: not s["driving"], since=mark)
        assert st["nodeStates"] == [] and st["lastNodeId"] in ("pass", "T1")
        assert st["agvPosition"]["x"] < 10.0
        again = await m.instant(action("cancelOrder", "cancel-2"))
        await m.action(again, "FAILED")  # nothing left to cancel
        await m.until(  # the state that says so may come after the action's
            lambda s: any(e["errorType"] == "noOrderToCancel" for e in s["errors"]), since=mark
        )
    await wire.check("2.0.0", ours=AGV_PUBLISHES)


async def test_the_library_pauses_resumes_and_runs_our_estop_plan(
    vdalib: Path, tmp_path: Path, mosquitto_private: MosquittoServer, wire: Wire
) -> None:
    async with driven(tmp_path, mosquitto_private, "2.0.0", speed=1.5) as (m, _):
        n = await m.assign(m.order("o-3", ("dock-1", "pass", "T1", "T2", "T3"), released=5))
        await m.party.wait("node_traversed", id=n, nodeId="pass", timeout=10)
        mark = m.mark()
        p = await m.instant(action("startPause", "pause-1"))
        await m.action(p, "FINISHED")
        paused = await m.until(lambda s: s["paused"] and not s["driving"], since=mark)
        await asyncio.sleep(0.5)
        assert m.state()["agvPosition"] == paused["agvPosition"]  # it stays put
        r = await m.instant(action("stopPause", "resume-1", "NONE"))
        await m.action(r, "FINISHED")
        mark = m.mark()
        await m.party.wait("order_processed", id=n, timeout=15)
        await m.until(lambda s: s["lastNodeId"] == "T3" and not s["driving"], since=mark)

        # The gateway's e-stop: startPause alone, then the vendor latch the factsheet lists.
        n = await m.assign(m.order("o-4", ("T3", "T2", "T1", "pass"), released=4))
        await m.party.wait("node_traversed", id=n, nodeId="T2", timeout=10)
        mark = m.mark()
        e1 = await m.instant(action("startPause", "estop-1.pause"))
        e2 = await m.instant(
            {
                **action("robodineEStop", "estop-1.estop"),
                "actionParameters": [{"key": "reason", "value": "spill"}],
            }
        )
        await m.action(e1, "FINISHED")
        await m.action(e2, "FINISHED")
        st = await m.until(
            lambda s: s["safetyState"]["eStop"] == "REMOTE" and s["paused"], since=mark
        )
        assert not st["driving"]
        # The release: the latch, then cancel what it ran, then resume.
        mark = m.mark()
        for i, (kind, block) in enumerate(
            (("robodineEStopRelease", "NONE"), ("cancelOrder", "HARD"), ("stopPause", "NONE"))
        ):
            await m.action(await m.instant(action(kind, f"release-1.{i}", block)), "FINISHED")
        st = await m.until(
            lambda s: (
                s["safetyState"]["eStop"] == "NONE" and not s["paused"] and not s["nodeStates"]
            ),
            since=mark,
        )
        assert st["orderId"] == "o-4"
    await wire.check("2.0.0", ours=AGV_PUBLISHES)


async def test_the_library_sees_the_simulated_agvs_last_will(
    vdalib: Path, tmp_path: Path, mosquitto_private: MosquittoServer, wire: Wire
) -> None:
    async with driven(tmp_path, mosquitto_private, "2.0.0") as (m, proc):
        proc.send_signal(signal.SIGKILL)  # no OFFLINE, no DISCONNECT
        broken = await m.party.wait(
            "connection", where=lambda e: e["state"] == "CONNECTIONBROKEN", timeout=10
        )
        assert broken["agvId"] == {"manufacturer": "Acme", "serialNumber": "SN-1"}
    await wire.check("2.0.0", ours=AGV_PUBLISHES)
