"""Where a measured process spends its time: py-spy on its pid, summarised per function.

`robodine bench --profile` records the gateway (and the web tier) during the
scenario's heaviest load step, in py-spy's raw (collapsed stack) format,
in the scenario's temp dir (kept with --keep, never in bench/results), and
reports the functions with the most samples, by self time and by inclusive
time (results/profiles.json).
"""

from __future__ import annotations

import contextlib
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")


def py_spy() -> str | None:
    exe = Path(sys.executable).with_name("py-spy")
    return str(exe) if exe.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def record(pid: int, out: Path, rate: int = 250) -> Iterator[dict[str, Any]]:
    """Sample ``pid`` while the block runs; afterwards the dict holds the summary."""
    summary: dict[str, Any] = {}
    exe = py_spy()
    if exe is None:
        summary["error"] = "py-spy not installed (pip install py-spy, or the `bench` extra)"
        yield summary
        return
    proc = subprocess.Popen(
        [
            exe,
            "record",
            "--pid",
            str(pid),
            "--format",
            "raw",
            "--rate",
            str(rate),
            "--nonblocking",
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    time.sleep(0.3)  # attach before the load starts
    t0 = time.perf_counter()
    try:
        yield summary
    finally:
        seconds = time.perf_counter() - t0
        proc.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        try:
            _, err = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if out.exists():
            summary.update(summarise(out.read_text(), rate=rate, seconds=seconds))
            summary["file"] = str(out)
        else:
            summary["error"] = f"py-spy wrote nothing: {err.decode(errors='replace')[-300:]}"


def summarise(raw: str, *, rate: int, seconds: float, top: int = 12) -> dict[str, Any]:
    """Self and inclusive sample shares per function ("func (file)") from collapsed stacks."""
    self_s: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [_name(f) for f in stack.split(";")[1:]]  # [0] is the process / thread
        if not frames:
            continue
        self_s[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    if not total:
        return {"samples": 0}

    def share(c: Counter[str]) -> list[dict[str, Any]]:
        return [{"function": f, "pct": round(100 * n / total, 1)} for f, n in c.most_common(top)]

    return {
        "samples": total,
        # busy share of wall time: py-spy leaves out samples where the thread was idle
        "busy_pct": round(100 * total / (rate * seconds), 1) if seconds > 0 else None,
        "self": share(self_s),
        "inclusive": share(incl),
    }


def _name(frame: str) -> str:
    m = _FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    file = m["file"]
    for marker in ("site-packages/", "/lib/python3"):
        if marker in file:
            file = file.split(marker, 1)[1]
    return f"{m['func']} ({file})"
