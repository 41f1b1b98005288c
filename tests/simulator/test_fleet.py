"""Many robots in one process, the generated fleet config, and the `robodine sim` command."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
import sys
from pathlib import Path

import pytest

from config import Settings, load_settings
from config.settings import RobotConfig, TcpSettings
from protocol.messages import Ack, State
from protocol.vocabulary import RobotKind
from robodine.cli import main
from simulator.client import TcpTransport
from simulator.fleet import Fleet, FleetOptions
from simulator.fleet_config import fleet_toml
from simulator.transport import gateway_host, make_transport
from tests.simulator.peer import PeerGateway

REPO = Path(__file__).resolve().parents[2]


def _settings(tmp_path: Path, n: int, port: int = 7700) -> Settings:
    path = tmp_path / "fleet.toml"
    path.write_text(fleet_toml(n, Settings()))
    return load_settings(path).model_copy(update={"tcp": TcpSettings(port=port)})


# ---- --write-config ---------------------------------------------------------------


def test_write_config_makes_a_loadable_private_fleet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "f.toml"
    assert main(["sim", "--write-config", "10", str(path)]) == 0
    assert f"wrote 10 robots to {path}" in capsys.readouterr().out
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    s = load_settings(path)
    ids = [r.id for r in s.robots]
    assert ids == [f"serve-00{i}" for i in range(1, 8)] + ["cook-001", "cook-002", "cook-003"]
    assert [r.kind for r in s.robots].count(RobotKind.COOKING) == 3
    keys = {r.key.get_secret_value() for r in s.robots}
    assert len(keys) == 10
    assert all(len(bytes.fromhex(k)) == 32 for k in keys)
    assert len(s.floor.tables) >= 8
    for p in [*s.floor.tables, *s.floor.docks, s.floor.kitchen_pass]:
        assert 0 <= p.x <= s.floor.width
        assert 0 <= p.y <= s.floor.height
    assert s.web.secret is not None


def test_big_fleet_config_scales_the_floor(tmp_path: Path) -> None:
    s = _settings(tmp_path, 1000)
    assert len(s.robots) == 1000
    assert s.robots[666].id == "serve-667"
    assert s.robots[667].id == "cook-001"
    assert len(s.floor.tables) == 400
    assert len({(t.x, t.y) for t in s.floor.tables}) == 400
    assert s.floor.width > 20
    assert len(s.floor.docks) == 8


def test_write_config_tiny_fleet(tmp_path: Path) -> None:
    s = _settings(tmp_path, 1)
    assert [(r.id, r.kind) for r in s.robots] == [("serve-001", RobotKind.SERVING)]


def test_write_config_never_overwrites_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "f.toml"
    path.write_text("keep me")
    assert main(["sim", "--write-config", "3", str(path)]) == 2
    assert f"{path} exists; pass --force to replace it" in capsys.readouterr().err
    assert path.read_text() == "keep me"
    assert main(["sim", "--write-config", "3", str(path), "--force"]) == 0
    assert len(load_settings(path).robots) == 3


@pytest.mark.parametrize("n", ["0", "-3", "ten", "100001"])
def test_write_config_bad_count(tmp_path: Path, n: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sim", "--write-config", n, str(tmp_path / "f.toml")]) == 2
    assert "--write-config N must be an integer in 1..100000" in capsys.readouterr().err
    assert not (tmp_path / "f.toml").exists()


def test_write_config_into_a_missing_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sim", "--write-config", "3", str(tmp_path / "no" / "f.toml")]) == 2
    assert "cannot write" in capsys.readouterr().err


# ---- argument checks -------------------------------------------------------------------


def test_more_robots_than_configured_exits_2_with_a_hint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "f.toml"
    path.write_text(fleet_toml(3, Settings()))
    assert main(["sim", "--config", str(path), "--robots", "5"]) == 2
    err = capsys.readouterr().err
    assert "5 robots wanted but the config has only 3 robots" in err
    assert "robodine sim --write-config 5 FILE" in err


def test_no_robots_configured_exits_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROBODINE_CONFIG", raising=False)
    assert main(["sim"]) == 2
    assert "the config has no robots" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--hz", "0", "outside (0, 100]"),
        ("--hz", "fast", "'fast' is not a float"),
        ("--robots", "0", "outside [1, 100000]"),
        ("--fail-rate", "2", "outside [0, 1]"),
        ("--duration", "-1", "outside (0"),
        ("--transport", "carrier-pigeon", "invalid choice"),
    ],
)
def test_bad_flags_are_refused_by_the_parser(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["sim", flag, value])
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_unresolvable_gateway_host_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "f.toml"
    path.write_text(fleet_toml(2, Settings()))
    assert (
        main(
            [
                "sim",
                "--config",
                str(path),
                "--gateway-host",
                "no-such-host.invalid",
                "--duration",
                "1",
            ]
        )
        == 1
    )
    assert "cannot resolve gateway host 'no-such-host.invalid'" in capsys.readouterr().err


def test_gateway_host_defaults() -> None:
    assert gateway_host(Settings(tcp=TcpSettings(host="0.0.0.0"))) == "127.0.0.1"
    assert gateway_host(Settings(tcp=TcpSettings(host="::"))) == "::1"
    assert gateway_host(Settings(tcp=TcpSettings(host="10.0.0.5"))) == "10.0.0.5"
    assert gateway_host(Settings(), "gw.local") == "gw.local"


def test_unknown_transport_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="unknown transport 'smoke' \\(choose from tcp"):
        make_transport("smoke", Settings(), "127.0.0.1")


# ---- the fleet in-process ------------------------------------------------------------------


async def test_fleet_connects_every_robot_and_stops(tmp_path: Path) -> None:
    async with PeerGateway({}, heartbeat_s=0.2) as peer:
        s = _settings(tmp_path, 6, peer.port)
        peer.keys.update({r.id: r.key_bytes for r in s.robots})
        fleet = Fleet(
            s,
            s.robots,
            TcpTransport("127.0.0.1", peer.port),
            FleetOptions(hz=20, ramp_s=0.2, progress_s=0.2, seed=1),
        )
        lines: list[str] = []
        stop = asyncio.Event()
        run = asyncio.create_task(fleet.run(stop.wait, lines.append))
        await peer.wait_for(lambda: len(peer.sessions) == 6)
        await peer.wait_for(lambda: len({t.robot for t in peer.telemetry}) == 6)
        fleet.robots["serve-001"].fault("demo")
        peer.command("cook-001", "k1", "cook", recipe="soup", seconds=0.1)
        await peer.wait_for(lambda: peer.of("cook-001", Ack))
        await peer.wait_for(lambda: len(lines) >= 2)
        stop.set()
        stats = await run
        await peer.wait_for(lambda: not peer.sessions)  # every connection closed
    assert stats.connected == 0
    assert stats.connects == 6
    assert stats.acked_ok == 1
    assert re.search(r"robots \d/6 connected\s+telemetry [\d,]+ \(", lines[-1])
    summary = fleet.summary()
    assert "sim summary after" in summary
    assert "6 robots" in summary
    assert "1 error" in summary
    assert {s.robot for s in peer.messages if isinstance(s, State)} == set(fleet.robots)
    assert peer.dropped == []


async def test_fleet_seed_makes_runs_repeatable(tmp_path: Path) -> None:
    s = _settings(tmp_path, 4)
    a = Fleet(s, s.robots, TcpTransport("127.0.0.1", 1), FleetOptions(seed=9), clock=lambda: 0)
    b = Fleet(s, s.robots, TcpTransport("127.0.0.1", 1), FleetOptions(seed=9), clock=lambda: 0)
    assert [(r.model.x, r.model.battery) for r in a.robots.values()] == [
        (r.model.x, r.model.battery) for r in b.robots.values()
    ]


# ---- the command, as a process -----------------------------------------------------------------


async def _sim_process(config: Path, port: int, *args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "ROBODINE_TCP_PORT": str(port), "ROBODINE_LOGGING_LEVEL": "warning"}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "robodine",
        "sim",
        "--config",
        str(config),
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def test_sim_command_runs_for_its_duration(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text(fleet_toml(4, Settings()))
    s = load_settings(path)
    async with PeerGateway({r.id: r.key_bytes for r in s.robots}) as peer:
        proc = await _sim_process(
            path, peer.port, "--robots", "3", "--duration", "2.5", "--hz", "20"
        )
        out, err = await asyncio.wait_for(proc.communicate(), 30)
    text = out.decode()
    assert proc.returncode == 0, err.decode()
    assert "robodine sim: 3 robots -> 127.0.0.1 (tcp), telemetry at 20 Hz, for 2.5 s" in text
    assert re.search(r"sim +1\.0s  robots 3/3 connected", text)
    assert "sim summary after 2." in text
    assert "3 made, 0 reconnects" in text
    assert {h.robot for h in peer.hellos} == {"serve-001", "serve-002", "serve-003"}
    assert len(peer.telemetry) > 60
    assert peer.dropped == []


async def test_sim_command_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    path = tmp_path / "f.toml"
    path.write_text(fleet_toml(2, Settings()))
    s = load_settings(path)
    async with PeerGateway({r.id: r.key_bytes for r in s.robots}) as peer:
        proc = await _sim_process(path, peer.port)
        try:
            await peer.wait_for(lambda: len(peer.sessions) == 2, within=20)
        finally:
            proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 20)
        await peer.wait_for(lambda: not peer.sessions)
    assert proc.returncode == 0, err.decode()
    assert "Ctrl-C to stop" in out.decode()
    assert "sim summary after" in out.decode()
    assert "Traceback" not in err.decode()


def test_robot_config_has_no_key_in_repr() -> None:
    s = Settings(robots=[RobotConfig(id="r1", kind=RobotKind.SERVING, key="ab" * 32)])
    fleet = Fleet(s, s.robots, TcpTransport("127.0.0.1", 1), clock=lambda: 0)
    assert "abab" not in repr(fleet.robots["r1"].identity)
