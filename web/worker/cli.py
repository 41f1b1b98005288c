"""`robodine worker`."""

from __future__ import annotations

import argparse
from typing import Any

from config import Settings


def register(sub: Any) -> None:
    from robodine.cli import command

    command(
        sub,
        "worker",
        run_worker,
        "run background jobs and outbound webhooks (SAQ on the same Redis)",
    )


def run_worker(settings: Settings, args: argparse.Namespace) -> int:
    from web.worker.main import run

    return run(settings)
