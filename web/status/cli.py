"""`robodine status [--json]`: exit status 0 healthy, 1 degraded, 2 down."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import msgspec

from config import Settings
from web.status import StatusOut, collect, probing
from web.status.document import EXIT_STATUS

MARK = {"ok": "ok", "off": "off", "degraded": "DEGRADED", "down": "DOWN"}


def register(sub: Any) -> None:
    from robodine.cli import command

    p = command(
        sub,
        "status",
        run_status,
        "is the whole system healthy? exit status 0 healthy, 1 degraded, 2 down",
    )
    p.add_argument("--json", action="store_true", help="the document GET /api/status answers")


def run_status(settings: Settings, args: argparse.Namespace) -> int:
    doc = asyncio.run(_collect(settings))
    if args.json:
        sys.stdout.write(msgspec.json.encode(doc).decode() + "\n")
    else:
        sys.stdout.write(render(doc))
    return EXIT_STATUS[doc.status]


async def _collect(settings: Settings) -> StatusOut:
    async with probing(settings) as probe:
        return await collect(probe)


def render(doc: StatusOut) -> str:
    width = max(len(n) for n in doc.sections)
    lines = [f"robodine {doc.version}: {doc.status} ({doc.checked_at})"]
    for name, s in doc.sections.items():
        lines.append(f"  {name:<{width}}  {MARK[s.state]:<8}  {s.summary}")
    problems = [(n, p) for n, s in doc.sections.items() for p in s.problems]
    if problems:
        lines.append("")
        lines += [f"  {n}: {p}" for n, p in problems]
    return "\n".join(lines) + "\n"
