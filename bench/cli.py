"""`robodine bench [SCENARIO...] [--quick] [--against REF]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from bench import report, scenarios
from bench.harness import eprint
from config import Settings
from robodine.cli import command

__all__ = ["register"]

EPILOG = """\
Every scenario starts its own redis-server (and mosquitto), the real gateway
and web processes, and load generators in separate processes, and measures
the project and its ceiling in the same run. A full run writes
bench/results/latest.json and bench/RESULTS.md; --quick (the CI smoke test)
writes bench/results/quick.json only. --profile runs py-spy on the measured
process under the heaviest load and keeps the summaries in
bench/results/profiles.json (its figures, perturbed by the sampling, go to
profiled.json). --against REF runs each scenario from a git worktree of REF
and from this tree, alternated (--rounds times each), and writes
bench/results/compare.json and its side-by-side table in RESULTS.md
(--quick: quick-against.json only). The goals are reported, not asserted: the
exit status is 0 when every scenario ran (or is not available here).
"""


def register(sub: Any) -> None:
    p = command(sub, "bench", _run, "measure the gateway and web tier against same-run ceilings")
    p.formatter_class = argparse.RawDescriptionHelpFormatter
    p.epilog = EPILOG
    p.add_argument(
        "scenarios",
        nargs="*",
        metavar="SCENARIO",
        help=f"which to run (default: all): {', '.join(scenarios.MODULES)}",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="short steps for CI smoke use (all scenarios in under two minutes)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the measured processes under the heaviest load (needs py-spy)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="write the JSON and RESULTS.md here instead of bench/results, bench/",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep each scenario's temp dir (configs, process logs)"
    )
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument(
        "--report",
        action="store_true",
        help="rewrite RESULTS.md from the JSON in bench/results, run nothing",
    )
    p.add_argument(
        "--against",
        metavar="REF",
        help="also run each scenario from a git worktree of REF, alternated with "
        "this tree, and put the two side by side",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        metavar="N",
        help="with --against: runs of each scenario per side (default 1)",
    )


def _run(settings: Settings, args: argparse.Namespace) -> int:
    if args.list:
        for name in scenarios.MODULES:
            m = scenarios.load(name)
            reason = m.unavailable()
            print(f"{name:12} {m.MEASURES}" + (f"  [not available: {reason}]" if reason else ""))
        return 0
    summary = args.out / "RESULTS.md" if args.out else None
    if args.report:
        print(f"wrote {report.rewrite_markdown(args.out, summary)}")
        return 0
    unknown = [n for n in args.scenarios if n not in scenarios.MODULES]
    if unknown:
        print(
            f"robodine bench: unknown scenario {unknown[0]!r} "
            f"(choose from {', '.join(scenarios.MODULES)})",
            file=sys.stderr,
        )
        return 2
    names = list(dict.fromkeys(args.scenarios)) or list(scenarios.MODULES)
    if args.against:
        return _against(args, names, summary)
    from bench.runner import run_all  # imports the load generators only when running

    meta = report.machine(args.quick)
    meta["profiled"] = args.profile
    eprint(
        f"robodine bench ({meta['mode']}): {', '.join(names)} on {meta['cores']} cores, "
        f"load average {meta['loadavg_at_start']}"
    )
    results = run_all(
        names, quick=args.quick, profile=args.profile, keep=args.keep, progress=eprint
    )
    print()
    print(report.table(results))
    for path in report.write(results, meta, out_dir=args.out, summary=summary):
        print(f"wrote {path}")
    failed = [r.scenario for r in results if r.status == "failed"]
    if failed:
        print(f"robodine bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def _against(args: argparse.Namespace, names: list[str], summary: Path | None) -> int:
    from bench import compare

    if args.profile or args.rounds < 1:
        print(
            "robodine bench: --against takes --rounds 1 or more and no --profile", file=sys.stderr
        )
        return 2
    try:
        data = compare.run(
            args.against, names, quick=args.quick, rounds=args.rounds, progress=eprint
        )
    except ValueError as exc:
        print(f"robodine bench: {exc}", file=sys.stderr)
        return 2
    print()
    print(report.compare_table(data))
    for path in report.write_compare(data, out_dir=args.out, summary=summary):
        print(f"wrote {path}")
    failed = sorted(
        {
            e["scenario"]
            for e in data["results"]
            for side in compare.SIDES
            for r in e[side]
            if r["status"] == "failed"
        }
    )
    if failed:
        print(f"robodine bench: failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0
