"""`robodine bench --against REF`: the same scenarios from two code trees, alternated.

REF is checked out as a git worktree; each scenario then runs from it and
from this tree in turn, ``rounds`` times, the order swapped from one run to
the next (REF first, then this tree first, ...), so a drift of the shared
machine falls on both sides alike. Every run is a ``robodine bench SCENARIO``
process of its own with its tree first on PYTHONPATH: the gateway, the web
tier, the load generators and the config writer of each side are that
tree's, so a config key renamed between the two trees does not break either
side, and each run measures its own ceiling, which makes the ratios
comparable. What each run wrote is collected into one record
(``compare.json``; ``quick-against.json`` for --quick).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import report, worktree
from bench.procs import child_env

SIDES = ("ref", "tree")


def order(scenario_index: int, round_index: int) -> tuple[str, str]:
    """Which side runs first: swapped from each run of a scenario to the next, and from each
    scenario to the next, so neither side is always the one after a warm or busy machine."""
    return ("ref", "tree") if (scenario_index + round_index) % 2 == 0 else ("tree", "ref")


def run(
    ref: str, names: list[str], *, quick: bool, rounds: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    """Measure ``names`` from REF's tree and from this one; the record compare.json holds."""
    meta = report.machine(quick)
    commit = worktree.short_commit(ref)
    with (
        worktree.checkout(ref) as ref_root,
        tempfile.TemporaryDirectory(prefix="rd-bench-against-") as scratch,
    ):
        roots = {"ref": ref_root, "tree": worktree.ROOT}
        results: list[dict[str, Any]] = []
        side_meta: dict[str, dict[str, Any]] = {}
        for i, name in enumerate(names):
            entry: dict[str, Any] = {"scenario": name, "ref": [], "tree": []}
            for k in range(rounds):
                for side in order(i, k):
                    out = Path(scratch) / f"{name}-{k}-{side}"
                    progress(
                        f"against {ref}: {name}, round {k + 1}/{rounds}, "
                        f"{'REF' if side == 'ref' else 'this tree'}"
                    )
                    result, run_meta = run_one(
                        roots[side], name, quick=quick, out=out, progress=progress
                    )
                    entry[side].append(result)
                    side_meta.setdefault(side, run_meta)
            results.append(entry)
    label = ref if commit.startswith(ref) else f"{ref} ({commit})"
    tree_meta = side_meta.get("tree", meta)
    tree_label = f"this tree ({tree_meta.get('commit', '?')}"
    tree_label += " + uncommitted)" if tree_meta.get("uncommitted") else ")"
    return {
        "run": meta,
        "against": ref,
        "rounds": rounds,
        "sides": [
            {
                "side": "ref",
                "label": label,
                "commit": commit,
                # what the runs from REF's worktree found themselves to be: REF's commit
                "measured_commit": side_meta.get("ref", {}).get("commit", ""),
            },
            {
                "side": "tree",
                "label": tree_label,
                "commit": tree_meta.get("commit", ""),
                "uncommitted": tree_meta.get("uncommitted", []),
            },
        ],
        "results": results,
    }


def run_one(
    root: Path, name: str, *, quick: bool, out: Path, progress: Callable[[str], None]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``robodine bench NAME`` from the code at ``root``; (its result, its run's metadata)."""
    argv = [sys.executable, "-m", "robodine", "bench", name, "--out", str(out)]
    if quick:
        argv.append("--quick")
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    tail: deque[str] = deque(maxlen=5)
    with subprocess.Popen(
        argv,
        cwd=root,
        env=child_env(PYTHONPATH=path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        assert proc.stderr is not None
        for line in proc.stderr:
            tail.append(line.rstrip())
            progress(f"  {line.rstrip()}")
    data = _read(out / ("quick.json" if quick else "latest.json"))
    found = [r for r in data.get("results", []) if r.get("scenario") == name]
    if found:
        return found[0], data.get("run", {})
    reason = f"`robodine bench {name}` exited with {proc.returncode}: " + " | ".join(tail)
    return {
        "scenario": name,
        "status": "failed",
        "reason": reason[-300:],
        "unit": "",
        "project": None,
        "ratio": None,
    }, data.get("run", {})


def _read(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
