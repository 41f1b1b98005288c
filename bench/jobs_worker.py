"""`python -m bench.jobs_worker --config FILE`: `robodine worker` plus one no-op job kind
(``bench_echo``), so the jobs scenario measures the queue itself, not a job's own work."""

from __future__ import annotations

import argparse
from typing import Any

from config import load_settings
from config.logging import configure_logging
from robodine.lifecycle import run_until_signal
from web.worker.main import serve

KIND = "bench_echo"


async def echo(ctx: dict[str, Any], *, input: Any) -> dict[str, Any]:
    return {"echo": input}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--config", required=True)
    args = p.parse_args()
    settings = load_settings(args.config)
    configure_logging("warning", "json")

    run_until_signal(lambda stop: serve(settings, stop, extra_functions=[(KIND, echo)]))


if __name__ == "__main__":
    main()
