"""`robodine recorder`."""

from __future__ import annotations

import argparse
from typing import Any

from config import Settings


def register(sub: Any) -> None:
    from robodine.cli import command

    command(
        sub,
        "recorder",
        run_recorder,
        "record robot cameras into the media store (segments, retention, an index in SQL)",
    )


def run_recorder(settings: Settings, args: argparse.Namespace) -> int:
    from web.recorder.main import run

    return run(settings)
