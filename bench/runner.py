"""Run the chosen scenarios one after another, each in its own temp dir, with progress lines.

A scenario that cannot run here is reported "not available: <reason>"; one
that crashes is reported "failed" with the error, and the others still run.
The goals are reported, never asserted: the exit status says only whether
every scenario ran.
"""

from __future__ import annotations

import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench import scenarios
from bench.harness import Context, Result
from bench.procs import raise_fd_limit


def run_all(
    names: list[str], *, quick: bool, profile: bool, keep: bool, progress: Callable[[str], None]
) -> list[Result]:
    raise_fd_limit()
    t0 = time.perf_counter()

    def say(line: str) -> None:
        progress(f"[{time.perf_counter() - t0:6.1f}s] {line}")

    results = []
    for i, name in enumerate(names, 1):
        say(f"({i}/{len(names)}) {name}")
        results.append(_run_one(name, quick=quick, profile=profile, keep=keep, say=say))
        r = results[-1]
        say(
            f"{name}: {r.status}"
            + (f": {r.reason}" if r.reason else "")
            + (f" ({r.seconds:.0f}s)" if r.seconds else "")
        )
    return results


def _run_one(
    name: str, *, quick: bool, profile: bool, keep: bool, say: Callable[[str], None]
) -> Result:
    module = scenarios.load(name)
    base = Result(name, "not available", module.MEASURES, module.GOAL, ceiling_label=module.CEILING)
    reason = module.unavailable()
    if reason:
        base.reason = reason
        return base
    workdir = Path(tempfile.mkdtemp(prefix=f"rd-bench-{name}-"))
    ctx = Context(name, quick=quick, workdir=workdir, progress=say, profile=profile)
    started = time.perf_counter()
    try:
        result: Result = module.run(ctx)
    except Exception as exc:  # one scenario's crash must not hide the others' numbers
        (workdir / "error.txt").write_text(traceback.format_exc())
        base.status = "failed"
        base.reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
        base.figures["workdir"] = str(workdir)
        keep = True
        result = base
    finally:
        ctx.close()
    result.seconds = round(time.perf_counter() - started, 1)
    result.peak_rss_mb = {**ctx.peak_rss(), **result.peak_rss_mb}
    if keep:
        say(f"{name}: logs kept in {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return result
