"""`robodine install` and `robodine uninstall` (docs/operations.md, Install)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from config import Settings
from robodine.install import plan
from robodine.install.steps import Context, InstallError

NEXT = f"""
Next: edit {plan.CONFIG} (the [[robots]] above all), then
  systemctl enable --now robodine.target
  robodine status
  robodine users add admin --role admin        # the first login
HTTPS: each tablet trusts {plan.CA_CERT} once (docs/operations.md, HTTPS):
  Android: Settings > Security > Encryption & credentials > Install a certificate > CA
  iPhone, iPad: open the file, install the profile, then Settings > General > About >
  Certificate Trust Settings > full trust for "Robodine local CA"
"""


def register(sub: Any) -> None:
    from robodine.cli import command

    p = command(
        sub, "install", run_install, "put robodine in place on this Debian box (idempotent; root)"
    )
    _common(p)
    p.add_argument(
        "--wheel",
        type=Path,
        metavar="FILE",
        help="the wheel to install (default: built from this checkout)",
    )
    p.add_argument(
        "--python",
        default="/usr/bin/python3",
        metavar="PATH",
        help="the interpreter of the venv (default %(default)s: outside /root and "
        "/home, which the units hide)",
    )
    p.add_argument(
        "--no-deps",
        action="store_true",
        help="install the wheel alone: its dependencies come some other way",
    )
    p.add_argument(
        "--find-links",
        type=Path,
        metavar="DIR",
        help="dependencies from this directory of wheels, not the package index",
    )
    p = command(
        sub,
        "uninstall",
        run_uninstall,
        "remove the units and the code; the config and the data stay unless --purge",
    )
    _common(p)
    p.add_argument(
        "--purge",
        action="store_true",
        help="also /etc/robodine, /var/lib/robodine, the broker's logins, the user",
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dry-run", action="store_true", help="print each step, change nothing")
    p.add_argument(
        "--prefix",
        type=Path,
        default=Path("/"),
        metavar="DIR",
        help="install into this tree instead of / (tests, packagers): no users, "
        "services or packages are touched",
    )
    p.add_argument(
        "--user",
        default="robodine",
        metavar="NAME",
        help="the user and group that own the services' files (default "
        "%(default)s, as the units run; another only for a --prefix tree)",
    )


def _context(args: argparse.Namespace) -> Context:
    prefix = args.prefix.resolve()
    if args.user != "robodine" and prefix == Path("/"):
        raise SystemExit(
            "robodine: install: --user is for --prefix trees: the units run as robodine"
        )
    return Context(prefix=prefix, dry_run=args.dry_run, user=args.user)


def run_install(settings: Settings, args: argparse.Namespace) -> int:
    ctx = _context(args)
    print(
        f"robodine install into {ctx.prefix}"
        + (" (dry run: nothing changes)" if ctx.dry_run else "")
    )
    try:
        plan.install(
            ctx,
            wheel=args.wheel,
            python=args.python,
            no_deps=args.no_deps,
            find_links=args.find_links,
        )
    except InstallError as exc:
        print(f"robodine: install: {exc}", file=sys.stderr)
        return 1
    _summary(ctx)
    if ctx.changed and not ctx.dry_run and ctx.real:
        print(NEXT, end="")
    return 0


def run_uninstall(settings: Settings, args: argparse.Namespace) -> int:
    ctx = _context(args)
    print(
        f"robodine uninstall from {ctx.prefix}"
        + (" (dry run: nothing changes)" if ctx.dry_run else "")
    )
    try:
        plan.uninstall(ctx, purge=args.purge)
    except InstallError as exc:
        print(f"robodine: uninstall: {exc}", file=sys.stderr)
        return 1
    _summary(ctx)
    return 0


def _summary(ctx: Context) -> None:
    n = ctx.changed
    if n == 0:
        print("nothing changed: everything was already in place")
    else:
        print(f"{n} step{'s' if n != 1 else ''} {'would change' if ctx.dry_run else 'changed'}")
