"""UDP datagrams a loop iteration at a time: the same outcome as one datagram at a time.

The endpoint reads what its socket holds when the loop finds it readable and gives it to
``Fleet.datagram_run`` as one run; the fleet checks
each (``DatagramDecoder.decode_run``) and applies the good ones with ``telemetry_run``,
the MQTT batch path. Here a run and the same datagrams one by one must leave the same
samples, events, counters and sessions.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import orjson
import pytest
import structlog
from structlog.testing import capture_logs

from config import Settings
from config.logging import configure_logging
from gateway.fleet import fleet as fleet_module
from gateway.transports.udp import BURST, UdpEndpoint
from protocol.auth import sign
from protocol.messages import Telemetry
from protocol.udp import encode_datagram
from tests.gateway.fleet_harness import NOW, FleetHarness
from tests.support.gateway import gateway_settings


def settings(tmp_path: Path) -> Settings:
    return gateway_settings(
        "redis://127.0.0.1:1/0",
        tmp_path,
        udp={"host": "127.0.0.1", "port": 0},
        gateway={"telemetry_rate_per_s": 5, "telemetry_burst": 6},
    )


def datagram(
    gw: FleetHarness, robot: str, seq: int, *, key: bytes | None = None, **fields: Any
) -> bytes:
    msg = Telemetry(
        robot=robot,
        seq=seq,
        ts=NOW - 0.5,
        x=seq + 0.5,
        y=2.25,
        theta=1e-05,
        battery=80.0,
        speed=0.3,
        **fields,
    )
    return encode_datagram(msg, key or gw.fleet.sessions[robot].key)


def mixed(gw: FleetHarness) -> list[bytes]:
    head = b"RD\x01\x07serve-1"
    bad_body = head + b'{"type":"telemetry","robot":"serve-1","x":'
    other = b"RD\x01\x07serve-1" + datagram(gw, "serve-2", 1)[11:-32]  # serve-2's body
    return [
        datagram(gw, "serve-1", 1),
        datagram(gw, "serve-1", 2),
        datagram(gw, "cook-1", 1),
        datagram(gw, "serve-1", 2),  # replayed
        datagram(gw, "serve-1", 1),  # reordered
        datagram(gw, "serve-1", 3, key=bytes(32)),  # forged
        datagram(gw, "serve-1", 4, v=2),
        bad_body + sign(gw.fleet.sessions["serve-1"].key, bad_body),
        other + sign(gw.fleet.sessions["serve-1"].key, other),  # names serve-2 in the body
        encode_datagram(Telemetry(robot="ghost", seq=1, x=1.0, y=2.0, battery=5.0), bytes(32)),
        b"garbage",
        b"RD\x01" + b"x" * 2000,  # over max_datagram_bytes
        datagram(gw, "serve-1", 5),
        *(datagram(gw, "cook-1", seq) for seq in range(2, 10)),  # past the burst of 6
        datagram(gw, "serve-2", 1),
    ]


def test_a_run_leaves_what_one_datagram_at_a_time_leaves(tmp_path: Path) -> None:
    batched = FleetHarness(settings(tmp_path), tmp_path)
    single = FleetHarness(settings(tmp_path), tmp_path)
    run = mixed(batched)
    assert run == mixed(single)  # same keys, same bytes
    batched.fleet.datagram_run(run, NOW)
    for data in run:
        single.fleet.datagram_run([data], NOW)

    assert batched.samples() == single.samples()
    assert batched.events() == single.events()
    assert batched.stats.counts == single.stats.counts
    assert batched.sessions() == single.sessions()

    # and what that is
    assert [(s[0], s[2]) for s in batched.samples()] == [
        ("serve-1", 1),
        ("serve-1", 2),
        ("cook-1", 1),
        ("serve-1", 5),
        *(("cook-1", seq) for seq in range(2, 7)),
        ("serve-2", 1),
    ]
    assert batched.samples()[0] == [
        "serve-1",
        "udp",
        1,
        NOW - 0.5,
        1.5,
        2.25,
        1e-05,
        80.0,
        0.3,
        NOW,
    ]
    get = batched.stats.get
    assert get("telemetry_received", "udp") == 10
    assert get("telemetry_dropped", "rate_limited") == 3  # cook-1: 6 tokens, 9 samples
    assert {
        reason: get("udp_dropped", reason)
        for reason in (
            "replayed",
            "bad_signature",
            "bad_message",
            "robot_mismatch",
            "unknown_robot",
            "malformed",
            "too_large",
        )
    } == {
        "replayed": 2,
        "bad_signature": 1,
        "bad_message": 2,
        "robot_mismatch": 1,
        "unknown_robot": 1,
        "malformed": 1,
        "too_large": 1,
    }
    connection = [
        (robot, msgspec.json.decode(data)["state"])
        for type_, robot, data in batched.events()
        if type_ == "robot.connection"
    ]
    assert connection == [("serve-1", "online"), ("cook-1", "online"), ("serve-2", "online")]
    assert batched.writer._latest.keys() == {"serve-1", "cook-1", "serve-2"}
    assert msgspec.json.decode(batched.writer._latest["cook-1"])[2] == 6


def test_dropped_datagrams_are_logged_at_most_every_ten_seconds(tmp_path: Path) -> None:
    gw = FleetHarness(settings(tmp_path), tmp_path)
    with capture_logs() as logs:
        gw.fleet.datagram_run([b"garbage", datagram(gw, "serve-1", 1)], NOW)
        gw.fleet.datagram_run([b"garbage", datagram(gw, "serve-1", 1)], NOW + 1)
        gw.fleet.datagram_run([datagram(gw, "serve-1", 2, key=bytes(32))], NOW + 9)
        gw.fleet.datagram_run([datagram(gw, "serve-1", 3)], NOW + 11)  # nothing dropped
        gw.fleet.datagram_run([b"RD\x01" + b"x" * 2000], NOW + 12)
    lines = [e for e in logs if e["event"] == "udp_datagrams_dropped"]
    assert [(e["reasons"], e["last_reason"], e["last_robot"], e["log_level"]) for e in lines] == [
        ({"malformed": 1}, "malformed", None, "warning"),
        (
            {"malformed": 1, "replayed": 1, "bad_signature": 1, "too_large": 1},
            "too_large",
            None,
            "warning",
        ),
    ]
    assert gw.stats.total("udp_dropped") == 5
    assert [s[2] for s in gw.samples()] == [1, 3]
    assert fleet_module.DROP_LOG_EVERY_S == 10.0


class Socket:
    """The gateway's endpoint on a real loopback socket, and a robot's socket to it."""

    def __init__(self, gw: FleetHarness) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # the burst fits
        sock.bind(("127.0.0.1", 0))
        self.endpoint = UdpEndpoint(gw.fleet, sock, 1400)
        self.robot = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.robot.connect(("127.0.0.1", self.endpoint.port))

    def close(self) -> None:
        self.endpoint.close()
        self.robot.close()


def record_runs(
    gw: FleetHarness, monkeypatch: pytest.MonkeyPatch, *, fail_first: bool = False
) -> list[list[bytes]]:
    runs: list[list[bytes]] = []
    apply = gw.fleet.datagram_run

    def recorded(run: list[bytes], now: float) -> None:
        runs.append(list(run))
        if fail_first and len(runs) == 1:
            raise RuntimeError("a bug")
        apply(run, now)

    monkeypatch.setattr(gw.fleet, "datagram_run", recorded)
    return runs


async def until(check: Any) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.002)
    raise AssertionError("not in time")


async def test_the_endpoint_reads_what_the_socket_holds_as_one_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = FleetHarness(settings(tmp_path), tmp_path)
    runs = record_runs(gw, monkeypatch)
    udp = Socket(gw)
    try:
        first = [datagram(gw, "serve-1", seq) for seq in (1, 2, 3)]
        for data in first:
            udp.robot.send(data)
        await until(lambda: runs)
        assert runs == [first]  # queued before the loop looked: one run
        burst = [datagram(gw, "serve-2", seq) for seq in range(1, BURST + 45)]
        for data in burst:
            udp.robot.send(data)
        udp.robot.send(b"RD\x01" + b"x" * 1500)  # over max_datagram_bytes, not cut to size
        await until(lambda: sum(map(len, runs)) == 3 + len(burst) + 1)
        assert [len(r) for r in runs] == [3, BURST, 45]  # at most BURST per wake-up
        assert [s[2] for s in gw.samples()][:3] == [1, 2, 3]
        assert gw.stats.get("telemetry_received", "udp") == 3 + 6  # serve-2: burst of 6
        assert gw.stats.get("udp_dropped", "too_large") == 1
    finally:
        udp.close()
    assert udp.endpoint.sock.fileno() == -1
    udp.endpoint.close()  # twice: nothing


async def test_a_run_that_raises_is_counted_and_the_next_one_is_handled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gw = FleetHarness(settings(tmp_path), tmp_path)
    runs = record_runs(gw, monkeypatch, fail_first=True)
    udp = Socket(gw)
    try:
        with capture_logs() as logs:
            udp.robot.send(datagram(gw, "serve-1", 1))
            udp.robot.send(datagram(gw, "serve-1", 2))
            await until(lambda: runs)
            udp.robot.send(datagram(gw, "serve-1", 3))
            await until(lambda: len(runs) == 2)
    finally:
        udp.close()
    assert [len(r) for r in runs] == [2, 1]
    assert gw.stats.get("udp_dropped", "handler_failed") == 2
    assert [e["event"] for e in logs if e["log_level"] == "error"] == ["udp_run_failed"]
    assert [s[2] for s in gw.samples()] == [3]


@pytest.fixture
def json_logs(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """The production log pipeline (structlog, orjson renderer) on a captured stderr:
    what the renderer refuses shows up here, where capture_logs would hide it."""
    configure_logging("info", "json", cache=False)
    try:
        yield lambda: [orjson.loads(line) for line in capsys.readouterr().err.splitlines()]
    finally:
        structlog.reset_defaults()


async def test_a_bad_datagram_costs_no_good_one_and_is_logged_once(
    tmp_path: Path, json_logs: Callable[[], list[dict[str, Any]]]
) -> None:
    gw = FleetHarness(settings(tmp_path), tmp_path)
    udp = Socket(gw)
    try:
        run = [b"garbage", *(datagram(gw, "serve-1", seq) for seq in range(1, 6))]
        for data in run:
            udp.robot.send(data)  # queued before the loop looks: one read, one run
        await until(lambda: gw.stats.total("udp_dropped"))
        await asyncio.sleep(0.01)
    finally:
        udp.close()
    assert [s[2] for s in gw.samples()] == [1, 2, 3, 4, 5]  # every valid one applied
    assert gw.stats.get("udp_dropped", "malformed") == 1
    assert gw.stats.get("udp_dropped", "handler_failed") == 0
    lines = json_logs()
    assert [(e["event"], e["level"]) for e in lines] == [
        ("robot_connection", "info"), ("udp_datagrams_dropped", "warning")
    ]  # serve-1 heard: online  # fmt: skip
    assert (lines[1]["reasons"], lines[1]["last_reason"]) == ({"malformed": 1}, "malformed")
