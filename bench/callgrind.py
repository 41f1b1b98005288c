"""Instructions per request of GET /api/robots (and of the hello-world ceiling) under
callgrind: ``python -m bench.callgrind [--against REF ...] [--requests N] [--keep DIR]``.

Timed A/B runs on these shared 2-core machines drift by 2-3 % between windows of
the same code; a count of instructions does not (repeat runs agree within about 1 %),
so a change of a few percent in the web tier's CPU per request shows here first.
The set-up is the rest scenario's (a real gateway with 50 robots online, the bench
user's bearer token); each web process runs under valgrind with instrumentation off
until ``callgrind_control`` turns it on, and counts are taken over N keep-alive
requests after 300 of warm-up. The micro-cache is held fresh for the measurement
(``LIST_MAX_AGE_S``): under valgrind its background reads would otherwise land in
the window, which a full-speed server does a few times a second, not per request. For the
same reason the user rows and the revocation list are held for 60 s (``web.auth_cache_s``,
2 s by default: a SQL query and a Redis read every 2 s land in every few hundred requests
under valgrind, in every ~40,000 at full speed). What the process still runs on its own
(timers, blocking reads that time out) is counted over as long again with no request and
shown as ``idle``, per request of the window: it is time-based, so it grows with
valgrind's slowdown, and a change of it is not a change of the request's path.
``--against REF`` (repeatable) measures a git worktree of REF beside the working tree,
in the same run (one gateway, one hello-world). Each side's web process gets the run's
config cut to the keys its own ``config.Settings`` knows (an older REF refuses today's
new keys) and a database and bench user of its own, made by its own code (its
migrations end at its own head). ``--keep DIR`` keeps each side's callgrind output there
for ``callgrind_annotate``.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

from bench import fleetconf, webtier, worktree
from bench.harness import Context, eprint
from bench.online import fleet_online
from bench.procs import Service, child_env
from robodine.testing.servers import free_port

ROOT = worktree.ROOT
ROBOTS = 50
WARM_UP = 300
# The web tier as `robodine web`, with the robot list's micro-cache never expiring.
# The robot routes moved (web/routes/robots.py before the web tier was organised by
# feature); a REF from before the move is measured too.
WEB_HELD_FRESH = (
    "import sys, importlib\n"
    "try:\n    r = importlib.import_module('web.robots.routes')\n"
    "except ModuleNotFoundError:\n    r = importlib.import_module('web.routes.robots')\n"
    "r.LIST_MAX_AGE_S = 1e9\n"
    "from robodine.cli import main; sys.exit(main())"
)
# Run with a side's own code: the config on argv[1] as JSON, without the keys (and list
# items' keys) that side's Settings refuses as unknown (pydantic's extra_forbidden).
KNOWN_KEYS_ONLY = (
    "import json, sys, tomllib\n"
    "from pydantic import ValidationError\n"
    "from config import Settings\n"
    "data = tomllib.loads(open(sys.argv[1], encoding='utf-8').read())\n"
    "while True:\n"
    "    try:\n"
    "        Settings(**data)\n"
    "        break\n"
    "    except ValidationError as exc:\n"
    "        unknown = [e['loc'] for e in exc.errors() if e['type'] == 'extra_forbidden']\n"
    "        if not unknown:\n"
    "            raise\n"
    "        for loc in unknown:\n"
    "            node = data\n"
    "            for part in loc[:-1]:\n"
    "                node = node[part]\n"
    "            node.pop(loc[-1], None)\n"
    "print(json.dumps(data))"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.callgrind",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument(
        "--against",
        metavar="REF",
        action="append",
        default=[],
        help="also measure this git ref (a worktree); repeatable",
    )
    ap.add_argument("--requests", type=int, default=2000, help="requests counted per side")
    ap.add_argument(
        "--keep", metavar="DIR", type=Path, help="keep each side's callgrind output in DIR"
    )
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        eprint("bench.callgrind: needs valgrind (Debian package valgrind)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="rd-callgrind-"))
    ctx = Context("callgrind", quick=False, workdir=workdir, progress=eprint)
    try:
        with contextlib.ExitStack() as trees:
            sides = {"working tree": ROOT}
            for ref in args.against:
                sides[ref] = trees.enter_context(worktree.checkout(ref))
            counts = _measure(ctx, workdir, sides, args.requests, args.keep)
    finally:
        ctx.close()
        shutil.rmtree(workdir, ignore_errors=True)
    hello = counts.pop("hello-world")[0]
    print(f"\n{'side':24} {'instructions/request':>22} {'vs hello-world':>15} {'idle':>9}")
    print(f"{'hello-world':24} {hello:>22,.0f} {1.0:>15.3f}")
    for name, (n, idle) in counts.items():
        print(f"{name:24} {n:>22,.0f} {n / hello:>15.3f} {idle:>9,.0f}")
    print(
        "idle: instructions run in as long again with no request, per request of the window\n"
        "(timers and blocking reads: a share that grows with the time valgrind takes)"
    )
    return 0


def _measure(
    ctx: Context, workdir: Path, sides: dict[str, Path], requests: int, keep: Path | None
) -> dict[str, tuple[float, float]]:
    _, _, ports = fleet_online(ctx, ROBOTS)
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={workdir}/callgrind.out.%p",
    ]
    counts: dict[str, tuple[float, float]] = {}

    port = free_port()
    hello = ctx.service(
        "hello",
        [*valgrind, sys.executable, "-m", "bench.ceilings", "hello", str(port)],
        env=child_env(),
        cwd=ROOT,
    )
    hello.wait_port(port, timeout=300)
    counts["hello-world"] = _count(hello, port, "/hello", {}, requests, workdir, keep, "hello")
    hello.stop()
    for name, code in sides.items():
        port = free_port()
        env = child_env(PYTHONPATH=str(code))  # the side's packages before the installed ones
        config = _side_config(ports.path, workdir / f"web-{port}", port, code, env)
        webtier.add_user(config, webtier.USER, webtier.PASSWORD, "admin", code, env=env)
        web = ctx.service(
            f"web-{port}",
            [*valgrind, sys.executable, "-c", WEB_HELD_FRESH, "web", "--config", str(config)],
            env=env,
            cwd=code,
        )
        web.wait_port(port, timeout=600)
        token = webtier.login(port)
        counts[name] = _count(
            web,
            port,
            "/api/robots",
            {"Authorization": f"Bearer {token}"},
            requests,
            workdir,
            keep,
            name,
        )
        web.stop()
        ctx.log(f"{name}: {counts[name][0]:,.0f} instructions per request")
    return counts


def _side_config(run_config: Path, stem: Path, port: int, code: Path, env: dict[str, str]) -> Path:
    """The run's config for one side's web process: its own port, metrics port and
    database, and only the keys that side's code knows."""
    data: dict[str, Any] = tomllib.loads(run_config.read_text())
    web = data.setdefault("web", {})
    web["port"] = port
    web["metrics_port"] = free_port()
    web["auth_cache_s"] = 60.0  # the largest allowed: see the module's docstring
    data.setdefault("database", {})["url"] = f"sqlite+aiosqlite:///{stem}.sqlite3"
    full = _write_private(stem.with_suffix(".full.toml"), fleetconf.dumps(data))
    known = subprocess.run(
        [sys.executable, "-c", KNOWN_KEYS_ONLY, str(full)],
        capture_output=True,
        text=True,
        env=env,
        cwd=code,
        timeout=120,
        check=False,
    )
    if known.returncode != 0:
        raise RuntimeError(f"config for {code}: {known.stderr.strip()[-800:]}")
    full.unlink()
    return _write_private(stem.with_suffix(".toml"), fleetconf.dumps(json.loads(known.stdout)))


def _write_private(path: Path, text: str) -> Path:
    """A config file readable by this user only: it holds the web secret and data key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def _count(
    svc: Service,
    port: int,
    path: str,
    headers: dict[str, str],
    requests: int,
    workdir: Path,
    keep: Path | None,
    side: str,
) -> tuple[float, float]:
    """Instructions the process ran per request over ``requests`` sequential keep-alive
    GETs, and what it ran with no request for as long again (its timers and blocking
    reads, per request of the window); the window's dump copied into ``keep`` (if given)
    as callgrind.out.SIDE."""
    pid = str(svc.pid)

    def control(*flags: str) -> None:
        subprocess.run(["callgrind_control", *flags, pid], check=True, capture_output=True)

    def dumped() -> Path:
        control("-d")
        dumps = sorted(glob.glob(str(workdir / f"callgrind.out.{pid}*")), key=os.path.getmtime)
        return Path(dumps[-1])

    control("-i", "on")
    _get(port, path, headers, WARM_UP)
    control("-z")
    started = time.monotonic()
    _get(port, path, headers, requests)
    took = time.monotonic() - started
    window = dumped()
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        safe = "".join(c if c.isalnum() or c in "-._" else "_" for c in side)
        shutil.copyfile(window, keep / f"callgrind.out.{safe}")
    control("-z")
    time.sleep(took)
    idle = dumped()
    control("-i", "off")
    return _totals(window) / requests, _totals(idle) / requests


def _totals(dump: Path) -> int:
    for line in dump.read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1])
    raise RuntimeError(f"no totals in {dump}")


def _get(port: int, path: str, headers: dict[str, str], n: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        for _ in range(n):
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                raise RuntimeError(f"GET {path}: {resp.status}")
    finally:
        conn.close()


if __name__ == "__main__":
    raise SystemExit(main())
