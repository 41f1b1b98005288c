"""`robodine SUBCOMMAND`: argument parsing and settings loading, nothing else.

Each package that offers commands has a ``cli.py`` with ``register(subparsers)``
adding its subcommands; a subcommand's handler gets ``(settings, args)`` and
returns an exit status. Config problems exit 2 with one line per problem.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence
from typing import Any

from config import ConfigError, Settings, load_settings
from config.logging import configure_logging
from robodine import __version__

# Packages whose cli.register() adds subcommands; missing ones are skipped so a
# partial install (say, gateway without web) still runs what it has.
COMMAND_MODULES = ("gateway.cli", "simulator.cli", "web.cli", "bench.cli", "robodine.install.cli")

Handler = Callable[[Settings, argparse.Namespace], int]


DESCRIPTION = (
    "Robodine connects a restaurant's serving and cooking robots with its staff: the "
    "gateway talks to the robots, the web tier serves the staff dashboard and the API."
)
EPILOG = (
    "Start with `robodine demo-data` and `robodine web`, or scripts/run for everything at "
    "once. `robodine COMMAND --help` shows a command's options. Settings come from the TOML "
    "file (--config or $ROBODINE_CONFIG) and ROBODINE_<SECTION>_<KEY> variables."
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="robodine", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"robodine {__version__}")
    parser.add_argument(
        "--config",
        "-c",
        metavar="FILE",
        help="TOML config file (default: $ROBODINE_CONFIG, else built-in defaults)",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(sub)
    return parser


def add_config_option(p: argparse.ArgumentParser) -> None:
    """Let `--config` also follow the subcommand (`robodine gateway --config F`)."""
    p.add_argument(
        "--config", "-c", metavar="FILE", default=argparse.SUPPRESS, help="TOML config file"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return _config_problems(exc)
    level = settings.logging.level
    if getattr(args, "quiet", False) and level == "info":
        level = "warning"  # a one-shot command prints its own result; info lines are noise
    configure_logging(level, settings.logging.format)
    handler: Handler = args.handler
    try:
        return handler(settings, args)
    except ConfigError as exc:  # found only when the command ran (a path, a server's answer)
        return _config_problems(exc)
    except KeyboardInterrupt:
        return 130


def _config_problems(exc: ConfigError) -> int:
    for line in exc.problems:
        print(f"robodine: config: {line}", file=sys.stderr)
    return 2


def command(
    sub: Any, name: str, handler: Handler, help: str, *, quiet: bool = False
) -> argparse.ArgumentParser:
    """``quiet``: log warnings and worse only (unless logging.level is debug), for commands
    that say what they did on standard output."""
    p: argparse.ArgumentParser = sub.add_parser(name, help=help, description=help)
    add_config_option(p)
    p.set_defaults(handler=handler, quiet=quiet)
    return p
