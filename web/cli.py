"""`robodine web`, `robodine users ...`, `robodine db ...`."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from config import Settings

T = TypeVar("T")


def register(sub: Any) -> None:
    from robodine.cli import add_config_option, command

    command(
        sub, "web", run_web, "run the web tier (REST, WebSocket, SSE, chat) on web.host:web.port"
    )

    users = command(sub, "users", _help_users, "manage web users (the first admin, passwords)")
    us = users.add_subparsers(dest="users_command", required=True, metavar="ACTION")
    p = us.add_parser("add", help="create a user; the password is read from standard input")
    p.add_argument("name", help="username: lowercase letters, digits, . _ -")
    p.add_argument("--role", required=True, choices=["admin", "staff", "viewer"])
    p.set_defaults(handler=users_add)
    p = us.add_parser("passwd", help="set a user's password (read from standard input)")
    p.add_argument("name")
    p.set_defaults(handler=users_passwd)
    p = us.add_parser("list", help="list users")
    p.set_defaults(handler=users_list)
    p = us.add_parser("remove", help="delete a user")
    p.add_argument("name")
    p.set_defaults(handler=users_remove)
    for action in us.choices.values():
        add_config_option(action)

    db = command(sub, "db", _help_users, "database schema: upgrade to the code's revision, show it")
    ds = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name, handler, text in (
        ("upgrade", db_upgrade, "migrate the schema to head"),
        ("current", db_current, "print the schema revision"),
    ):
        p = ds.add_parser(name, help=text)
        p.set_defaults(handler=handler)
        add_config_option(p)


def _help_users(settings: Settings, args: argparse.Namespace) -> int:  # pragma: no cover
    return 2


def _fail(message: str, status: int = 2) -> int:
    print(f"robodine: {message}", file=sys.stderr)
    return status


def run_web(settings: Settings, args: argparse.Namespace) -> int:
    from web.app import WebConfigError, check_settings
    from web.server import run

    try:
        check_settings(settings)
    except WebConfigError as exc:
        return _fail(f"config: {exc}")
    return run(settings)


def read_password(prompt: str = "Password: ") -> str:
    """From standard input: a line when piped, a hidden prompt (twice) at a terminal."""
    if sys.stdin.isatty():
        first = getpass.getpass(prompt)
        if getpass.getpass("Again: ") != first:
            raise ValueError("the passwords differ")
        return first
    data = sys.stdin.readline()
    return data.removesuffix("\n").removesuffix("\r")


async def _with_users(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    from web.db.migrate import upgrade
    from web.db.session import create_engine, sessionmaker
    from web.security import Passwords
    from web.users import UserService

    engine = create_engine(settings.database)
    try:
        await upgrade(engine)  # a fresh database works: the schema comes first
        service = UserService(
            sessionmaker(engine), Passwords(settings.web), settings.web.password_min_length
        )
        return await fn(service)
    finally:
        await engine.dispose()


def _run_users(settings: Settings, fn: Callable[[Any], Awaitable[T]]) -> T:
    return asyncio.run(_with_users(settings, fn))


def users_add(settings: Settings, args: argparse.Namespace) -> int:
    from web.problems import Problem
    from web.security import Role

    try:
        password = read_password()
    except (ValueError, EOFError) as exc:
        return _fail(f"users add: {exc}")
    try:
        user = _run_users(settings, lambda s: s.create(args.name, password, Role(args.role)))
    except Problem as p:
        return _fail(f"users add: {p.detail}", 1 if p.status == 409 else 2)
    print(f"user {user.username!r} created with role {user.role}")
    return 0


def users_passwd(settings: Settings, args: argparse.Namespace) -> int:
    from web.problems import Problem
    from web.schemas import UserPatch

    try:
        password = read_password("New password: ")
        user = _run_users(settings, lambda s: s.update(args.name, UserPatch(password=password)))
    except (ValueError, EOFError) as exc:
        return _fail(f"users passwd: {exc}")
    except Problem as p:
        return _fail(f"users passwd: {p.detail}", 1)
    print(f"password of {user.username!r} changed; their open sessions end")
    return 0


def users_list(settings: Settings, args: argparse.Namespace) -> int:
    for u in _run_users(settings, lambda s: s.list()):
        print(f"{u.username}\t{u.role}\t{'disabled' if u.disabled else 'active'}")
    return 0


def users_remove(settings: Settings, args: argparse.Namespace) -> int:
    from web.problems import Problem

    try:
        _run_users(settings, lambda s: s.delete(args.name))
    except Problem as p:
        return _fail(f"users remove: {p.detail}", 1)
    print(f"user {args.name!r} removed")
    return 0


def db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from web.db.migrate import upgrade
    from web.db.session import create_engine

    async def go() -> str | None:
        engine = create_engine(settings.database)
        try:
            return await upgrade(engine)
        finally:
            await engine.dispose()

    print(f"database at revision {asyncio.run(go())}")
    return 0


def db_current(settings: Settings, args: argparse.Namespace) -> int:
    from web.db.migrate import current_revision, head_revision
    from web.db.session import create_engine

    async def go() -> str | None:
        engine = create_engine(settings.database)
        try:
            return await current_revision(engine)
        finally:
            await engine.dispose()

    current, head = asyncio.run(go()), head_revision()
    print(f"current {current or '(empty)'}, head {head}")
    return 0 if current == head else 1
