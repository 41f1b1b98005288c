"""Rewrite the figures tables of docs/reliability.md from a run of the reliability tests.

Run `scripts/reliability-report` (short runs, a few minutes) or `scripts/reliability-report
--long` (the `long` variants too: outages of $CHAOS_OUTAGE_S seconds, $FUZZ_INPUTS inputs
per ingress, $API_CASES cases per API operation). The tests (tests/chaos, tests/fuzz,
tests/api) append their figures as JSON lines to the file named by $CHAOS_FIGURES; this
renders them between the markers in docs/reliability.md. A failing test still leaves its
figures, but the tables are only rewritten when every test passed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
TESTS = ["tests/chaos", "tests/fuzz", "tests/api"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--long", action="store_true", help="the long variants as well")
    p.add_argument(
        "--from-json",
        type=Path,
        metavar="FILE",
        help="render figures already collected instead of running the tests",
    )
    args = p.parse_args(argv)
    if args.from_json:
        rows = _read(args.from_json)
        ok = True
    else:
        with tempfile.TemporaryDirectory(prefix="rd-figures-") as tmp:
            out = Path(tmp) / "figures.jsonl"
            marker = ["-m", "long or not long"] if args.long else []
            env = {**os.environ, "CHAOS_FIGURES": str(out)}
            done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-m", "pytest", *TESTS, "-q", *marker],
                cwd=ROOT,
                env=env,
                check=False,
            )
            rows = _read(out)
            ok = done.returncode == 0
    if not ok:
        print(
            "reliability-report: a test failed; docs/reliability.md left as it was", file=sys.stderr
        )
        return 1
    _write(render(rows, long=args.long))
    print(f"reliability-report: {len(rows)} rows written to {DOC.relative_to(ROOT)}")
    return 0


def _read(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _cell(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:g}"
    if isinstance(v, dict):
        return ", ".join(f"{k} {_cell(x)}" for k, x in v.items()) or "-"
    return str(v).replace("|", "\\|")


_SHOWN = {
    "test",
    "injected",
    "load",
    "promise",
    "generated",
    "received",
    "lost",
    "duplicated",
    "out_of_order",
    "lost_by_robot",
    "recovery_s",
    "kind",
}


def render(rows: list[dict[str, Any]], *, long: bool) -> str:
    chaos = [r for r in rows if r.get("kind", "chaos") == "chaos" and "generated" in r]
    other = [r for r in rows if r not in chaos]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"Measured {time.strftime('%Y-%m-%d')} by `scripts/reliability-report"
        f"{' --long' if long else ''}` on {os.cpu_count()} cores "
        f"({platform.machine()}, Python {platform.python_version()}; load average "
        f"{load:.1f} when it ended).",
        "",
        "| injected | under | promise | events made | lost | duplicated | out of order "
        "| recovery (s) | more |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in chaos:
        more = {k: v for k, v in r.items() if k not in _SHOWN}
        lines.append(
            "| "
            + " | ".join(
                _cell(x)
                for x in (
                    r["injected"],
                    r["load"],
                    r["promise"],
                    r["generated"],
                    r["lost"],
                    r["duplicated"],
                    r["out_of_order"],
                    r.get("recovery_s"),
                    more,
                )
            )
            + " |"
        )
    if other:
        lines += [
            "",
            "| fed | to | promise | inputs | failures |",
            "| --- | --- | --- | ---: | ---: |",
        ]
        for r in other:
            lines.append(
                "| "
                + " | ".join(
                    _cell(x)
                    for x in (
                        r["injected"],
                        r["load"],
                        r["promise"],
                        r.get("inputs", r.get("cases")),
                        r.get("failures", 0),
                    )
                )
                + " |"
            )
    return "\n".join(lines)


def _write(table: str) -> None:
    text = DOC.read_text()
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    DOC.write_text(f"{head}{BEGIN}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    sys.exit(main())
