"""`robodine sim`: run a simulated fleet, or write the config for one."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import uvloop

from config import Settings
from protocol.vda5050 import SPOKEN, dialect_for, is_version
from robodine.cli import command
from simulator.camera import CameraOptions
from simulator.fleet import Fleet, FleetOptions
from simulator.fleet_config import MAX_ROBOTS, write_fleet_config
from simulator.model import ModelOptions
from simulator.transport import TRANSPORTS, gateway_host, make_transport

__all__ = ["register"]


def _number(
    kind: type[float] | type[int], low: float, high: float, *, open_low: bool = False
) -> Any:
    def parse(text: str) -> float | int:
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if not (low < v if open_low else low <= v) or not v <= high:
            bracket = "(" if open_low else "["
            raise argparse.ArgumentTypeError(f"{text} is outside {bracket}{low}, {high}]")
        return v

    return parse


def _size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        size = (0, 0)
    if not sep or not (16 <= size[0] <= 4096 and 16 <= size[1] <= 4096):
        raise argparse.ArgumentTypeError(f"{text!r}: WIDTHxHEIGHT, each 16..4096")
    return size


def register(sub: Any) -> None:
    p = command(sub, "sim", _run, "run simulated robots against a gateway (demo, tests, load)")
    p.add_argument(
        "--robots",
        "-n",
        type=_number(int, 1, MAX_ROBOTS),
        metavar="N",
        help="simulate the first N robots of the config (default: all of them)",
    )
    p.add_argument(
        "--duration",
        type=_number(float, 0, 1e7, open_low=True),
        metavar="S",
        help="stop after S seconds (default: run until Ctrl-C / SIGTERM)",
    )
    p.add_argument(
        "--hz",
        type=_number(float, 0, 100, open_low=True),
        default=10.0,
        help="telemetry samples per robot per second (default 10)",
    )
    p.add_argument(
        "--gateway-host",
        metavar="H",
        help="gateway address (default: tcp.host, with 0.0.0.0 meaning 127.0.0.1); "
        "several gateways: H[:PORT],H[:PORT],... tried in turn by each robot",
    )
    p.add_argument(
        "--transport",
        choices=sorted(TRANSPORTS),
        default="tcp",
        help="how robots talk to the gateway (default tcp: TCP + signed UDP)",
    )
    p.add_argument(
        "--pickup-s",
        type=_number(float, 0, 3600),
        default=3.0,
        metavar="S",
        help="a guest takes the dish S seconds after arrival (default 3)",
    )
    p.add_argument(
        "--speed",
        type=_number(float, 0, 5, open_low=True),
        default=0.7,
        metavar="M_S",
        help="serving robot and VDA 5050 AGV speed in m/s (default 0.7)",
    )
    p.add_argument(
        "--fail-rate",
        type=_number(float, 0, 1),
        default=0.0,
        metavar="P",
        help="probability per robot per minute of a random fault (default 0)",
    )
    p.add_argument(
        "--wander-s",
        type=_number(float, 0, 86400),
        default=0.0,
        metavar="S",
        help="idle serving robots stroll to a table every ~S seconds (default 0: never)",
    )
    p.add_argument(
        "--ramp-s",
        type=_number(float, 0, 3600),
        metavar="S",
        help="spread robot start-up over S seconds (default 5 ms per robot, max 5 s)",
    )
    p.add_argument(
        "--vda-version",
        action="append",
        default=[],
        metavar="[ROBOT=]VERSION",
        help="the VDA 5050 version a vda5050 robot speaks (1.1.0, 2.0.0, 2.1.0), for "
        "all of them or one (repeatable; default: its vda.version, else 2.1.0)",
    )
    p.add_argument(
        "--probe-hz",
        type=_number(float, 0, 100),
        default=0.0,
        metavar="HZ",
        help="numbered `probe` events per robot per second, to count loss, "
        "duplicates and reordering end to end (default 0: none)",
    )
    p.add_argument(
        "--camera",
        action="store_true",
        help="each robot announces a camera and sends JPEG frames (tcp transport)",
    )
    p.add_argument(
        "--camera-fps",
        type=_number(float, 0, 60, open_low=True),
        default=5.0,
        metavar="FPS",
        help="camera frames per second (default %(default)s)",
    )
    p.add_argument(
        "--camera-size",
        type=_size,
        default=(320, 240),
        metavar="WxH",
        help="camera frame size in pixels (default 320x240)",
    )
    p.add_argument("--seed", type=int, help="seed the simulation's randomness")
    p.add_argument(
        "--status-s",
        type=_number(float, 0, 3600),
        default=1.0,
        metavar="S",
        help="a status line every S seconds (default 1; 0: none, only the summary)",
    )
    p.add_argument(
        "--write-config",
        nargs=2,
        metavar=("N", "FILE"),
        help="write a config with N robots, a floor plan and keys to FILE, then exit",
    )
    p.add_argument("--force", action="store_true", help="let --write-config replace FILE")


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.write_config:
        return _write_config(settings, args)
    configured = settings.robots
    n = args.robots or len(configured)
    if n == 0 or n > len(configured):
        have = f"only {len(configured)}" if configured else "no"
        print(
            f"robodine sim: {n or 'any'} robots wanted but the config has {have} robots; "
            f"generate a fleet with: robodine sim --write-config {n or 10} FILE "
            f"(then: robodine sim --config FILE)",
            file=sys.stderr,
        )
        return 2
    try:
        settings = _vda_versions(settings, args.vda_version)
    except ValueError as exc:
        print(f"robodine sim: --vda-version: {exc}", file=sys.stderr)
        return 2
    configured = settings.robots
    if args.camera and args.transport != "tcp":
        print(
            f"robodine sim: --camera needs --transport tcp, not {args.transport}", file=sys.stderr
        )
        return 2
    camera = None
    if args.camera:
        w, h = args.camera_size
        camera = CameraOptions(fps=min(args.camera_fps, args.hz), width=w, height=h)
    host = gateway_host(settings, args.gateway_host)
    options = FleetOptions(
        hz=args.hz,
        ramp_s=args.ramp_s,
        seed=args.seed,
        progress_s=args.status_s,
        probe_hz=args.probe_hz,
        camera=camera,
        model=ModelOptions(
            speed=args.speed,
            pickup_s=args.pickup_s,
            fail_rate=args.fail_rate,
            wander_s=args.wander_s,
        ),
    )
    transport = make_transport(args.transport, settings, host)
    _vda_speed(transport, args.speed)
    fleet = Fleet(settings, configured[:n], transport, options)
    tty = sys.stdout.isatty()
    print(
        f"robodine sim: {n} robots -> {host} ({args.transport}), telemetry at {args.hz:g} Hz"
        + (f", camera {camera.width}x{camera.height} at {camera.fps:g} fps" if camera else "")
        + (f", for {args.duration:g} s" if args.duration else ", Ctrl-C to stop"),
        flush=True,
    )

    def report(line: str) -> None:
        print(f"\r{line}\x1b[K" if tty else line, end="" if tty else "\n", flush=True)

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(_until_stopped(fleet, args.duration, report if args.status_s else None))
    except OSError as exc:  # the transport could not start (robots' own errors are retried)
        print(f"robodine sim: {exc}", file=sys.stderr)
        return 1
    if tty and args.status_s:
        print()
    print(fleet.summary(), flush=True)
    return 0


def _vda_speed(transport: object, speed: float) -> None:
    """``--speed`` for VDA 5050 AGVs too (their model is not the serving robots')."""
    from simulator.transport_mixed import ConfiguredTransport  # as make_transport: when used
    from simulator.transport_vda5050 import VdaTransport

    if isinstance(transport, VdaTransport):
        transport.speed = speed
    elif isinstance(transport, ConfiguredTransport):
        for inner in transport.transports.values():
            _vda_speed(inner, speed)


def _vda_versions(settings: Settings, choices: list[str]) -> Settings:
    """``settings`` with each ``[ROBOT=]VERSION`` choice written into the robots' vda.version."""
    if not choices:
        return settings
    robots = {r.id: r for r in settings.robots}
    for choice in choices:
        robot, _, version = choice.rpartition("=")
        if not is_version(version) or dialect_for(version) is None:
            raise ValueError(f"{version!r} is not a VDA 5050 version we speak ({SPOKEN})")
        targets = (
            [robots[robot]]
            if robot in robots
            else [r for r in robots.values() if r.vda is not None]
            if not robot
            else []
        )
        if not targets or any(r.vda is None for r in targets):
            raise ValueError(f"{robot or 'no robot'!r} is not a robot with vda = {{...}}")
        for r in targets:
            assert r.vda is not None
            vda = type(r.vda).model_validate({**r.vda.model_dump(), "version": version})
            robots[r.id] = r.model_copy(update={"vda": vda})
    return settings.model_copy(update={"robots": list(robots.values())})


async def _until_stopped(fleet: Fleet, duration: float | None, report: Any) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    async def stopped() -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(duration):
                await stop.wait()

    try:
        await fleet.run(stopped, report)
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def _write_config(settings: Settings, args: argparse.Namespace) -> int:
    raw_n, raw_path = args.write_config
    try:
        n = int(raw_n)
        if not 1 <= n <= MAX_ROBOTS:
            raise ValueError
    except ValueError:
        print(
            f"robodine sim: --write-config N must be an integer in 1..{MAX_ROBOTS}, got {raw_n!r}",
            file=sys.stderr,
        )
        return 2
    path = Path(raw_path)
    try:
        write_fleet_config(
            path,
            n,
            settings,
            force=args.force,
            command=f"robodine sim --write-config {n} {shlex.quote(raw_path)}",
        )
    except FileExistsError:
        print(f"robodine sim: {path} exists; pass --force to replace it", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"robodine sim: cannot write {path}: {exc.strerror}", file=sys.stderr)
        return 2
    print(
        f"robodine sim: wrote {n} robots to {path} "
        f"(run: robodine sim --config {shlex.quote(raw_path)})"
    )
    return 0
