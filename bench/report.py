"""The table printed at the end, results/latest.json, and RESULTS.md.

A full run merges its scenarios into latest.json (so running one scenario
again keeps the others' last figures, each with its own date) and rewrites
RESULTS.md from it. A --quick run is a smoke test: it writes quick.json only.
A --profile run (quick or full) also merges its py-spy summaries into
profiles.json, kept apart because profiling costs CPU on a small machine: the
figures come from runs without it. A run --against REF writes compare.json,
which RESULTS.md shows as a side-by-side table. The dated story of what was
measured and changed is bench/JOURNAL.md, written by hand.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.harness import Result

BENCH_DIR = Path(__file__).parent


def machine(quick: bool) -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), ""
            )
    except OSError:
        pass
    return {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "cores": os.cpu_count(),
        "cpu": cpu,
        "loadavg_at_start": _loadavg(),
        "python": platform.python_version(),
        "redis": _version(["redis-server", "--version"]),
        "mosquitto": _version(["mosquitto", "-h"]),
        "commit": _version(["git", "-C", str(BENCH_DIR.parent), "rev-parse", "--short", "HEAD"]),
        "uncommitted": _dirty(),
    }


def _dirty() -> list[str]:
    """Measured code with uncommitted changes: the figures are of the working tree."""
    if shutil.which("git") is None:
        return []
    try:
        out = subprocess.run(
            [
                "git",
                "-C",
                str(BENCH_DIR.parent),
                "status",
                "--porcelain",
                "--",
                "gateway",
                "protocol",
                "web",
                "config",
                "simulator",
            ],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [
        line[3:]
        for line in out.stdout.splitlines()
        if line[:2].strip() in ("M", "A", "D") or line.startswith(" M")
    ]


def _loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def _version(argv: list[str]) -> str:
    if shutil.which(argv[0]) is None:
        return ""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    text = (out.stdout or out.stderr).strip().splitlines()
    return text[0][:80] if text else ""


def _bounded_by(name: str) -> str:
    """A scenario's BOUNDED_BY: what limits its figure, in a few lines that hold between runs."""
    from bench import scenarios

    try:
        return " ".join(str(getattr(scenarios.load(name), "BOUNDED_BY", "")).split())
    except (ImportError, KeyError):
        return ""


# ---- the table ------------------------------------------------------------------


def _num(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def rows(results: Sequence[Result | dict[str, Any]]) -> list[list[str]]:
    out = [["scenario", "project", "ceiling", "ratio", "goal", "met", "peak RSS MB", "time"]]
    for raw in results:
        r = raw if isinstance(raw, dict) else raw.to_json()
        if r["status"] != "ok":
            out.append(
                [
                    r["scenario"],
                    f"{r['status']}: {r['reason']}",
                    "",
                    "",
                    r["goal"],
                    "",
                    "",
                    f"{r['seconds']:.0f}s" if r["seconds"] else "",
                ]
            )
            continue
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        rss = " ".join(f"{k} {v:.0f}" for k, v in sorted(r["peak_rss_mb"].items())) or "-"
        out.append(
            [
                r["scenario"],
                _num(r["project"], r["unit"]),
                _num(r["ceiling"], r["unit"]) if r["ceiling"] is not None else "-",
                _num(r["ratio"]),
                r["goal"],
                met,
                rss,
                f"{r['seconds']:.0f}s",
            ]
        )
    return out


def table(results: list[Result]) -> str:
    return _text_table(rows(results))


def _text_table(data: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in data) for i in range(len(data[0]))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in data
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_table(data: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(data[0]) + " |", "|" + "---|" * len(data[0])]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in data[1:]]
    return lines


# ---- files ------------------------------------------------------------------------


def write(
    results: list[Result], meta: dict[str, Any], *, out_dir: Path | None, summary: Path | None
) -> list[Path]:
    """Write the JSON (and for a full run RESULTS.md); returns the paths written."""
    quick = meta["mode"] == "quick"
    out_dir = out_dir or BENCH_DIR / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamped = [{**r.to_json(), "date": meta["date"], "mode": meta["mode"]} for r in results]
    written = []
    profiles = {
        r["scenario"]: {**r["profile"], "date": meta["date"], "mode": meta["mode"]}
        for r in stamped
        if r.get("profile")
    }
    if profiles:
        written.append(_merge(out_dir / "profiles.json", profiles, meta))
    for r in stamped:
        r.pop("profile", None)
    if quick or meta.get("profiled"):  # smoke runs and perturbed figures stay out of RESULTS.md
        path = out_dir / ("profiled.json" if meta.get("profiled") else "quick.json")
        path.write_text(json.dumps({"run": meta, "results": stamped}, indent=2) + "\n")
        return [path, *written]
    path = _merge(out_dir / "latest.json", {r["scenario"]: r for r in stamped}, meta)
    ordered = json.loads(path.read_text())["results"]
    md = summary or BENCH_DIR / "RESULTS.md"
    md.write_text(
        markdown(
            ordered, meta, _load(out_dir / "profiles.json"), _load_compare(out_dir / "compare.json")
        )
    )
    return [path, md, *written]


def rewrite_markdown(out_dir: Path | None, summary: Path | None) -> Path:
    """RESULTS.md again from latest.json and profiles.json, without running anything."""
    out_dir = out_dir or BENCH_DIR / "results"
    data = json.loads((out_dir / "latest.json").read_text())
    md = summary or BENCH_DIR / "RESULTS.md"
    md.write_text(
        markdown(
            data["results"],
            data["run"],
            _load(out_dir / "profiles.json"),
            _load_compare(out_dir / "compare.json"),
        )
    )
    return md


def write_compare(
    data: dict[str, Any], *, out_dir: Path | None, summary: Path | None
) -> list[Path]:
    """compare.json, and RESULTS.md again with it (quick: quick-against.json only)."""
    out_dir = out_dir or BENCH_DIR / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    quick = data["run"]["mode"] == "quick"
    path = out_dir / ("quick-against.json" if quick else "compare.json")
    path.write_text(json.dumps(data, indent=2) + "\n")
    if quick or not (out_dir / "latest.json").exists():
        return [path]
    return [path, rewrite_markdown(out_dir, summary)]


def _load_compare(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("results") else None


def _load(path: Path) -> dict[str, dict[str, Any]]:
    try:
        return {r["scenario"]: r for r in json.loads(path.read_text())["results"]}
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _merge(path: Path, new: dict[str, dict[str, Any]], meta: dict[str, Any]) -> Path:
    """Replace the scenarios in ``new``, keep the others; scenario order as in MODULES."""
    from bench.scenarios import MODULES

    merged = {**_load(path), **{k: {**v, "scenario": k} for k, v in new.items()}}
    ordered = [merged[n] for n in MODULES if n in merged]
    path.write_text(json.dumps({"run": meta, "results": ordered}, indent=2) + "\n")
    return path


HOW_TO_RUN = """\
## How to run

- `robodine bench` runs every scenario (under 15 minutes) and rewrites `results/latest.json`
  and this file; `robodine bench SCENARIO...` runs some and keeps the others' last figures.
- `robodine bench --quick` is the CI smoke run (under two minutes): `results/quick.json` only.
- `robodine bench --against REF [--rounds N] [SCENARIO...]` runs each scenario from a git
  worktree of REF and from this tree, alternated (`results/compare.json`), and puts the two
  side by side in this file.
- `robodine bench SCENARIO --profile` keeps py-spy summaries in `results/profiles.json`
  (needs the `bench` extra); its perturbed figures go to `results/profiled.json`.
- `python -m bench.callgrind [--against REF ...] [--keep DIR]` counts instructions per
  GET /api/robots, for changes smaller than the drift between timed runs (needs valgrind).
- `robodine bench --report` rewrites this file from the JSON without running anything.

On a 2-core machine every process shares the cores (the measured server, Redis, mosquitto
and the load generators): the CPU figures in the JSON say which one was the bound.
"""


def markdown(
    results: list[dict[str, Any]],
    meta: dict[str, Any],
    profiles: dict[str, dict[str, Any]] | None = None,
    compare: dict[str, Any] | None = None,
) -> str:
    """RESULTS.md: the table, what bounds each figure, the side-by-side run, how to run."""
    lines = [
        "# Benchmark results",
        "",
        f"`robodine bench` on {meta['date']}: {_machine_line(meta)}.",
        "Each scenario measures the project and its ceiling in the same run; the ratio is the "
        "figure to compare between runs (shared machines drift by tens of percent). Goals are "
        "reported, never asserted. Data: `bench/results/latest.json`; what was measured and "
        "changed, by date: `bench/JOURNAL.md`.",
        "",
        *_md_table(rows(results)),
        "",
    ]
    dates = {r.get("date") for r in results}
    if len(dates) > 1:
        lines += [
            "Scenarios come from different runs: "
            + ", ".join(f"{r['scenario']} {r.get('date', '?')}" for r in results)
            + ".",
            "",
        ]
    lines += ["## What bounds each figure", ""]
    for r in results:
        this = r["bound"] if r["status"] == "ok" else f"**{r['status']}**: {r['reason']}"
        what = r["measures"] + (f"; ceiling: {r['ceiling_label']}" if r["ceiling_label"] else "")
        lines.append(f"- **{r['scenario']}**: {what}.")
        if _bounded_by(r["scenario"]):
            lines.append(f"  - bound: {_bounded_by(r['scenario'])}")
        if this:
            lines.append(f"  - this run: {this.rstrip('.')}.")
    lines.append("")
    prof = [p for p in (profiles or {}).values() if p.get("date")]
    if prof:
        newest = max(p["date"] for p in prof)
        lines += [
            f"Where the busiest process spends its time (py-spy, the last `--profile` "
            f"runs, up to {newest}): `bench/results/profiles.json`.",
            "",
        ]
    if compare:
        lines += compare_markdown(compare)
    lines.append(HOW_TO_RUN)
    return "\n".join(lines)


def _machine_line(meta: dict[str, Any]) -> str:
    return (
        f"{meta['cores']} cores ({meta['cpu']}), load average "
        f"{', '.join(map(str, meta['loadavg_at_start']))} at start, Python {meta['python']}, "
        f"{meta['redis']}, commit {meta['commit']}"
        + (
            f" plus uncommitted changes to {', '.join(meta['uncommitted'])}"
            if meta.get("uncommitted")
            else ""
        )
    )


# ---- two code trees side by side (robodine bench --against REF) ---------------------------


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _side_cell(runs: list[dict[str, Any]], key: str) -> tuple[str, float | None]:
    """One side's figure over its rounds: the mean, the rounds in brackets when several."""
    bad = [r for r in runs if r["status"] != "ok"]
    if bad:
        return f"{bad[0]['status']}: {bad[0]['reason']}"[:120], None
    values = [float(r[key]) for r in runs if r.get(key) is not None]
    if not values:
        return "-", None
    unit = "" if key == "ratio" else runs[0]["unit"]
    text = _num(_mean(values), unit)
    if len(values) > 1:
        text += " (" + ", ".join(_num(v) for v in values) + ")"
    return text, _mean(values)


def _factor(before: float | None, after: float | None) -> str:
    if before is None or after is None or before == 0:
        return "-"
    return f"x{after / before:.3f}"


def compare_rows(data: dict[str, Any]) -> list[list[str]]:
    """The side-by-side table: each scenario's ratio and figure from REF and from this tree."""
    ref, tree = (s["label"] for s in data["sides"])
    out = [
        [
            "scenario",
            f"ratio {ref}",
            f"ratio {tree}",
            "change",
            f"project {ref}",
            f"project {tree}",
            "change",
        ]
    ]
    for entry in data["results"]:
        ref_runs, tree_runs = entry["ref"], entry["tree"]
        cells = [entry["scenario"]]
        for key in ("ratio", "project"):
            a, va = _side_cell(ref_runs, key)
            b, vb = _side_cell(tree_runs, key)
            cells += [a, b, _factor(va, vb)]
        out.append(cells)
    return out


def compare_table(data: dict[str, Any]) -> str:
    return _text_table(compare_rows(data))


def compare_markdown(data: dict[str, Any]) -> list[str]:
    ref, tree = data["sides"]
    return [
        f"## Side by side: {ref['label']} and {tree['label']}",
        "",
        f"`robodine bench --against {data['against']}` ({data['run']['mode']}, "
        f"{data['rounds']} round{'s' if data['rounds'] > 1 else ''}) on {data['run']['date']}: "
        f"{_machine_line(data['run'])}. Each scenario ran from a git worktree of "
        f"{data['against']} and from this tree in turn (the order swapped from one scenario "
        "and round to the next), each run a `robodine bench` process of its own with its own "
        "ceiling, so the ratios compare; the projects' figures only as far as the machine "
        "stayed the same. With several rounds the cell is their mean, the rounds in brackets: "
        "their spread is the run-to-run noise. Data: `bench/results/compare.json`.",
        "",
        *_md_table(compare_rows(data)),
        "",
    ]
