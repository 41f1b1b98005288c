"""`robodine bench --quick` as CI runs it: every scenario ran and produced numbers.

The goals are not asserted (a slow or busy machine misses them); what must
hold is that each scenario either ran and reported figures, or said clearly
why it cannot run here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import scenarios

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.mark.timeout(300)
def test_quick_run_reports_numbers_for_every_available_scenario(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBODINE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "robodine", "bench", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=290,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    data = json.loads((tmp_path / "quick.json").read_text())
    assert data["run"]["mode"] == "quick"
    assert data["run"]["cores"] >= 1
    results = {r["scenario"]: r for r in data["results"]}
    assert list(results) == list(scenarios.MODULES)
    assert not (tmp_path / "RESULTS.md").exists()  # a smoke run never rewrites RESULTS.md
    for name, r in results.items():
        assert name in proc.stdout  # in the printed table
        reason = scenarios.load(name).unavailable()
        if reason:
            assert r["status"] == "not available"
            assert r["reason"] == reason
            assert f"not available: {reason}" in proc.stdout
            assert r["project"] is None  # never a made-up number
            continue
        assert r["status"] == "ok", (name, r["reason"])
        assert isinstance(r["project"], int | float), (name, r)
        assert r["project"] >= 0, (name, r)
        assert r["unit"]
        assert r["peak_rss_mb"], name  # gateway and/or web, every scenario
        assert all(v > 0 for v in r["peak_rss_mb"].values()), (name, r["peak_rss_mb"])
        if r["ceiling_label"] and name != "slow-client":
            assert r["ceiling"] is not None, (name, r)
            assert r["ceiling"] > 0, (name, r)
            assert r["ratio"] is not None, name
        assert isinstance(r["met"], bool), name
    assert "(1/" in proc.stderr  # progress lines while it runs


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(Path(__file__).resolve().parents[2]), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else ""


@pytest.mark.timeout(300)
def test_quick_run_against_a_ref_measures_both_trees_side_by_side(tmp_path: Path) -> None:
    """One scenario from a worktree of HEAD~1 and from this tree: each side ran its own
    code (the REF side's run reports REF's commit), and nothing is left behind."""
    ref = _git("rev-parse", "--short", "HEAD~1")
    if not ref or scenarios.load("ingest-tcp").unavailable() is not None:
        pytest.skip("needs a git checkout with a parent commit and redis-server")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBODINE_")}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "robodine",
            "bench",
            "ingest-tcp",
            "--quick",
            "--against",
            ref,
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=290,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    data = json.loads((tmp_path / "quick-against.json").read_text())
    ref_side, tree_side = data["sides"]
    assert ref_side["commit"] == ref and ref_side["measured_commit"] == ref
    assert tree_side["commit"] == _git("rev-parse", "--short", "HEAD")
    [entry] = data["results"]
    for side in ("ref", "tree"):
        [r] = entry[side]
        assert r["status"] == "ok", (side, r["reason"])
        assert r["project"] > 0 and r["unit"] == "% of a core"
    assert "ingest-tcp" in proc.stdout and f"project {ref}" in proc.stdout
    assert not (tmp_path / "RESULTS.md").exists()
    # the REF worktree is gone again (other worktrees may come and go meanwhile)
    assert "rd-bench-ref-" not in _git("worktree", "list")
