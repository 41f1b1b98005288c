"""`robodine integrations add|list|revoke`: the same service as /api/integrations.

A revocation made here reaches every web process within `web.auth_cache_s`
(they read the integration's row), and ends its open feeds there.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import msgspec

from config import Settings

T = TypeVar("T")


def register(sub: Any) -> None:
    from robodine.cli import add_config_option, command

    top = command(sub, "integrations", _usage, "API keys for other systems (a POS, a building)")
    acts = top.add_subparsers(dest="integrations_command", required=True, metavar="ACTION")
    p = acts.add_parser("add", help="add an integration; its key is printed once")
    p.add_argument("name", help="lowercase letters, digits, . _ -")
    p.add_argument("--role", required=True, choices=["admin", "staff", "viewer"])
    p.add_argument("--robot", action="append", dest="robots", metavar="ID", help="robot scope")
    p.add_argument(
        "--route", action="append", dest="routes", metavar="[METHOD ]PATH", help="route scope"
    )
    p.add_argument("--rate", type=int, dest="rate_per_min", metavar="N", help="requests/min")
    p.add_argument("--description", default="")
    p.set_defaults(handler=add)
    p = acts.add_parser("list", help="list integrations (never their keys)")
    p.set_defaults(handler=list_)
    p = acts.add_parser("revoke", help="revoke an integration's key")
    p.add_argument("name")
    p.set_defaults(handler=revoke)
    for action in acts.choices.values():
        add_config_option(action)


def _usage(settings: Settings, args: argparse.Namespace) -> int:  # pragma: no cover
    return 2


def _fail(message: str, status: int) -> int:
    print(f"robodine: integrations: {message}", file=sys.stderr)
    return status


async def _with(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    from web.db.migrate import upgrade
    from web.db.session import create_engine, sessionmaker
    from web.integrations.service import IntegrationService

    engine = create_engine(settings.database)
    try:
        await upgrade(engine)
        return await fn(
            IntegrationService(sessionmaker(engine), settings.web.integration_rate_per_min)
        )
    finally:
        await engine.dispose()


def add(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 added (the key on standard output), 1 the name is taken, 2 invalid."""
    from web.http.problems import Problem
    from web.integrations.schemas import IntegrationIn

    fields = {
        k: getattr(args, k)
        for k in ("name", "role", "description", "robots", "routes", "rate_per_min")
    }
    try:
        body = msgspec.convert(fields, IntegrationIn)
    except msgspec.ValidationError as exc:
        return _fail(str(exc), 2)
    try:
        out = asyncio.run(_with(settings, lambda s: s.create(body, "cli")))
    except Problem as p:
        return _fail(p.detail, 1 if p.status == 409 else 2)
    print(f"integration {out.name!r} added with role {out.role}; its key (shown once):")
    print(out.key)
    return 0


def list_(settings: Settings, args: argparse.Namespace) -> int:
    for i in asyncio.run(_with(settings, lambda s: s.list())):
        used = i.last_used_at.isoformat() if i.last_used_at else "never used"
        state = "active" if i.active else "revoked"
        robots = ",".join(i.robots) if i.robots is not None else "*"
        routes = ",".join(i.routes) if i.routes is not None else "*"
        print(
            f"{i.name}\t{i.role}\t{state}\trdk_{i.prefix}_…\trobots={robots}\troutes={routes}\t{used}"
        )
    return 0


def revoke(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 revoked (or already), 1 no such integration."""
    from web.http.problems import Problem

    try:
        out, changed = asyncio.run(_with(settings, lambda s: s.revoke(args.name)))
    except Problem as p:
        return _fail(p.detail, 1)
    print(f"integration {out.name!r} {'revoked' if changed else 'was already revoked'}")
    return 0
