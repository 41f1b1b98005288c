"""`python -m bench.jobs_worker --config FILE`: `robodine worker` plus one no-op job kind
(``bench_echo``), so the jobs scenario measures the queue itself, not a job's own work."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import uvloop

from config import load_settings
from config.logging import configure_logging
from robodine.lifecycle import install_signal_handlers
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

    async def go() -> None:
        stop = asyncio.Event()
        uninstall = install_signal_handlers(asyncio.get_running_loop(), stop)
        try:
            await serve(settings, stop.wait(), extra_functions=[(KIND, echo)])
        finally:
            uninstall()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(go())


if __name__ == "__main__":
    main()
