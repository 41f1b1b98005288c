"""The table printed at the end, results/latest.json, and RESULTS.md.

A full run merges its scenarios into latest.json (so running one scenario
again keeps the others' last figures, each with its own date) and rewrites
RESULTS.md from it. A --quick run is a smoke test: it writes quick.json only.
A --profile run (quick or full) also merges its py-spy summaries into
profiles.json, which RESULTS.md shows under each scenario: profiling costs
CPU on a small machine, so the figures come from runs without it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.harness import Result

BENCH_DIR = Path(__file__).parent


def machine(quick: bool) -> dict[str, Any]:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), "")
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
            ["git", "-C", str(BENCH_DIR.parent), "status", "--porcelain", "--", "gateway",
             "protocol", "web", "config", "simulator"],
            capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line[3:] for line in out.stdout.splitlines() if line[:2].strip() in ("M", "A", "D")
            or line.startswith(" M")]


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


def _notes(name: str) -> str:
    """A scenario's NOTES: what the profiles showed and what would move the figure."""
    from bench import scenarios

    try:
        return str(getattr(scenarios.load(name), "NOTES", ""))
    except (ImportError, KeyError):
        return ""


# ---- the table ------------------------------------------------------------------


def _num(v: float | None, unit: str = "") -> str:
    if v is None:
        return "-"
    text = f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.2f}".rstrip("0").rstrip(".")
    return f"{text} {unit}".strip()


def rows(results: list[Result | dict[str, Any]]) -> list[list[str]]:
    out = [["scenario", "project", "ceiling", "ratio", "goal", "met", "peak RSS MB", "time"]]
    for raw in results:
        r = raw if isinstance(raw, dict) else raw.to_json()
        if r["status"] != "ok":
            out.append([r["scenario"], f"{r['status']}: {r['reason']}", "", "", r["goal"], "",
                        "", f"{r['seconds']:.0f}s" if r["seconds"] else ""])
            continue
        met = {True: "yes", False: "NO", None: "-"}[r["met"]]
        rss = " ".join(f"{k} {v:.0f}" for k, v in sorted(r["peak_rss_mb"].items())) or "-"
        out.append([r["scenario"], _num(r["project"], r["unit"]),
                    _num(r["ceiling"], r["unit"]) if r["ceiling"] is not None else "-",
                    _num(r["ratio"]), r["goal"], met, rss, f"{r['seconds']:.0f}s"])
    return out


def table(results: list[Result]) -> str:
    data = rows(results)
    widths = [max(len(row[i]) for row in data) for i in range(len(data[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in data]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _md_table(data: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(data[0]) + " |", "|" + "---|" * len(data[0])]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in data[1:]]
    return lines


# ---- files ------------------------------------------------------------------------


def write(results: list[Result], meta: dict[str, Any], *, out_dir: Path | None,
          summary: Path | None) -> list[Path]:
    """Write the JSON (and for a full run RESULTS.md); returns the paths written."""
    quick = meta["mode"] == "quick"
    out_dir = out_dir or BENCH_DIR / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    stamped = [{**r.to_json(), "date": meta["date"], "mode": meta["mode"]} for r in results]
    written = []
    profiles = {r["scenario"]: {**r["profile"], "date": meta["date"], "mode": meta["mode"]}
                for r in stamped if r.get("profile")}
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
    md.write_text(markdown(ordered, meta, _load(out_dir / "profiles.json")))
    return [path, md, *written]


def rewrite_markdown(out_dir: Path | None, summary: Path | None) -> Path:
    """RESULTS.md again from latest.json and profiles.json, without running anything."""
    out_dir = out_dir or BENCH_DIR / "results"
    data = json.loads((out_dir / "latest.json").read_text())
    md = summary or BENCH_DIR / "RESULTS.md"
    md.write_text(markdown(data["results"], data["run"], _load(out_dir / "profiles.json")))
    return md


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


def markdown(results: list[dict[str, Any]], meta: dict[str, Any],
             profiles: dict[str, dict[str, Any]] | None = None) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"Generated by `robodine bench` on {meta['date']}: {meta['cores']} cores ({meta['cpu']}), "
        f"load average {', '.join(map(str, meta['loadavg_at_start']))} at start, "
        f"Python {meta['python']}, {meta['redis']}, commit {meta['commit']}"
        + (f" plus uncommitted changes to {', '.join(meta['uncommitted'])}"
           if meta.get("uncommitted") else "") + ".",
        "Each scenario measures the project and its ceiling in the same run; the ratio is the "
        "figure to compare between runs (these shared machines drift by tens of percent). "
        "Goals are reported, never asserted. Raw data: `bench/results/latest.json`.",
        "",
        "Run it: `robodine bench` (all scenarios, under 15 minutes), `robodine bench SCENARIO...`, "
        "`robodine bench --quick` (the CI smoke run, under two minutes, writes quick.json only), "
        "`robodine bench SCENARIO --profile` (py-spy summaries into results/profiles.json; needs "
        "the `bench` extra), `python -m bench.callgrind --against REF` (instructions per GET "
        "/api/robots, for changes smaller than the runs' drift; needs valgrind). On a machine "
        "with 2 cores every process shares them: the measured "
        "server, Redis, mosquitto and the load generators, so the CPU columns in the JSON say "
        "which one was the bound.",
        "",
        *_md_table(rows(results)),
        "",
    ]
    dates = {r.get("date") for r in results}
    if len(dates) > 1:
        lines += ["Scenarios come from different runs: " + ", ".join(
            f"{r['scenario']} {r.get('date', '?')}" for r in results) + ".", ""]
    lines += ["## What bounds each figure", ""]
    for r in results:
        lines += [f"### {r['scenario']}", "", f"- measures: {r['measures']}"]
        if r["ceiling_label"]:
            lines.append(f"- ceiling: {r['ceiling_label']}")
        lines.append(f"- goal: {r['goal']}")
        if r["status"] != "ok":
            lines += [f"- **{r['status']}**: {r['reason']}", ""]
            continue
        if r["bound"]:
            lines.append(f"- bound: {r['bound']}")
        for k, v in r["figures"].items():
            lines.append(f"- {k}: {json.dumps(v) if isinstance(v, dict | list) else v}")
        notes = _notes(r["scenario"])
        if notes:
            lines += ["", notes.strip()]
        prof = (profiles or {}).get(r["scenario"]) or {}
        if prof.get("self"):
            lines += ["", f"Profile of the busiest process (py-spy `--profile` run, "
                          f"{prof.get('mode')} {prof.get('date')}, {prof['samples']:,} samples, "
                          f"busy {prof.get('busy_pct')}% of the window), self time:", ""]
            lines += [f"- {p['pct']:5.1f}% {p['function']}" for p in prof["self"][:10]]
            lines += ["", "inclusive:", ""]
            lines += [f"- {p['pct']:5.1f}% {p['function']}" for p in prof["inclusive"][:12]]
        lines.append("")
    return "\n".join(lines) + "\n"
