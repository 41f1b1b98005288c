"""Instructions per request of GET /api/robots (and of the hello-world ceiling) under
callgrind: ``python -m bench.callgrind [--against REF] [--requests N]``.

Timed A/B runs on these shared 2-core machines drift by 2-3 % between windows of
the same code; a count of instructions does not (repeat runs agree within about 1 %),
so a change of a few percent in the web tier's CPU per request shows here first.
The set-up is the rest scenario's (a real gateway with 50 robots online, the bench
user's bearer token); each web process runs under valgrind with instrumentation off
until ``callgrind_control`` turns it on, and counts are taken over N keep-alive
requests after 300 of warm-up. The micro-cache is held fresh for the measurement
(``LIST_MAX_AGE_S``): under valgrind its background reads would otherwise land in
the window, which a full-speed server does a few times a second, not per request.
``--against REF`` measures a git worktree of REF beside the working tree.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import http.client
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench import webtier, worktree
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench.callgrind",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--against", metavar="REF", help="also measure this git ref (a worktree)")
    ap.add_argument("--requests", type=int, default=2000, help="requests counted per side")
    args = ap.parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        eprint("bench.callgrind: needs valgrind (Debian package valgrind)")
        return 2
    workdir = Path(tempfile.mkdtemp(prefix="rd-callgrind-"))
    ctx = Context("callgrind", quick=False, workdir=workdir, progress=eprint)
    try:
        with contextlib.ExitStack() as trees:
            sides = {"working tree": ROOT}
            if args.against:
                sides[args.against] = trees.enter_context(worktree.checkout(args.against))
            counts = _measure(ctx, workdir, sides, args.requests)
    finally:
        ctx.close()
        shutil.rmtree(workdir, ignore_errors=True)
    hello = counts.pop("hello-world")
    print(f"\n{'side':24} {'instructions/request':>22} {'vs hello-world':>15}")
    print(f"{'hello-world':24} {hello:>22,.0f} {1.0:>15.3f}")
    for name, n in counts.items():
        print(f"{name:24} {n:>22,.0f} {n / hello:>15.3f}")
    return 0


def _measure(
    ctx: Context, workdir: Path, sides: dict[str, Path], requests: int
) -> dict[str, float]:
    _, _, ports = fleet_online(ctx, ROBOTS)
    webtier.add_user(ports.path, webtier.USER, webtier.PASSWORD, "admin", workdir)
    valgrind = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={workdir}/callgrind.out.%p",
    ]
    counts: dict[str, float] = {}

    port = free_port()
    hello = ctx.service(
        "hello",
        [*valgrind, sys.executable, "-m", "bench.ceilings", "hello", str(port)],
        env=child_env(),
        cwd=ROOT,
    )
    hello.wait_port(port, timeout=300)
    counts["hello-world"] = _count(hello, port, "/hello", {}, requests, workdir)
    hello.stop()
    for name, code in sides.items():
        port = free_port()
        config = workdir / f"web-{port}.toml"
        config.write_text(ports.path.read_text().replace(f"port = {ports.web}", f"port = {port}"))
        env = child_env(PYTHONPATH=str(code))  # the side's packages before the installed ones
        web = ctx.service(
            f"web-{port}",
            [*valgrind, sys.executable, "-c", WEB_HELD_FRESH, "web", "--config", str(config)],
            env=env,
            cwd=code,
        )
        web.wait_port(port, timeout=600)
        token = webtier.login(port)
        counts[name] = _count(
            web, port, "/api/robots", {"Authorization": f"Bearer {token}"}, requests, workdir
        )
        web.stop()
        ctx.log(f"{name}: {counts[name]:,.0f} instructions per request")
    return counts


def _count(
    svc: Service, port: int, path: str, headers: dict[str, str], requests: int, workdir: Path
) -> float:
    """Instructions the process ran per request over ``requests`` sequential keep-alive GETs."""
    pid = str(svc.pid)

    def control(*flags: str) -> None:
        subprocess.run(["callgrind_control", *flags, pid], check=True, capture_output=True)

    control("-i", "on")
    _get(port, path, headers, WARM_UP)
    control("-z")
    _get(port, path, headers, requests)
    control("-d")
    control("-i", "off")
    dumps = sorted(glob.glob(str(workdir / f"callgrind.out.{pid}*")), key=os.path.getmtime)
    for line in Path(dumps[-1]).read_text().splitlines():
        if line.startswith(("totals:", "summary:")):
            return int(line.split()[1]) / requests
    raise RuntimeError(f"no totals in {dumps[-1]}")


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
