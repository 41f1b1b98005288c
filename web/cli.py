"""`robodine web`, `robodine users ...`, `robodine db ...`, `demo-data`, `rotate-data-key`,
`robodine worker` (web/worker/cli.py), `robodine recorder` (web/recorder/cli.py)."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import secrets
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from config import Settings

T = TypeVar("T")


def register(sub: Any) -> None:
    from robodine.cli import add_config_option, command

    command(
        sub, "web", run_web, "run the web tier (REST, WebSocket, SSE, chat) on web.host:web.port"
    )

    users = command(
        sub, "users", _help_users, "manage web users (the first admin, passwords)", quiet=True
    )
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

    p = command(
        sub,
        "demo-data",
        demo_data,
        "load a small restaurant (tables, Korean menu, stock, robots, an admin); idempotent",
        quiet=True,
    )
    p.add_argument(
        "--if-empty",
        action="store_true",
        help="do nothing when the database already has users, tables or a menu",
    )
    p.add_argument(
        "--password-file",
        default="var/admin-password",
        metavar="FILE",
        help="where a generated admin password is written, mode 0600 (default: %(default)s)",
    )
    command(
        sub,
        "rotate-data-key",
        rotate_data_key,
        "re-seal every robot key from data.previous_key to data.key (SQL and rd:registry)",
        quiet=True,
    )

    db = command(
        sub,
        "db",
        _help_users,
        "database schema: upgrade to the code's revision, show it",
        quiet=True,
    )
    ds = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    for name, handler, text in (
        ("upgrade", db_upgrade, "migrate the schema to head"),
        ("current", db_current, "print the schema revision"),
    ):
        p = ds.add_parser(name, help=text)
        p.set_defaults(handler=handler)
        add_config_option(p)

    from web.integrations.cli import register as register_integrations
    from web.worker.cli import register as register_worker

    register_worker(sub)
    from web.recorder.cli import register as register_recorder

    register_recorder(sub)

    from web.status.cli import register as register_status

    register_status(sub)

    from web.backup.cli import register as register_backup

    register_backup(sub)
    register_integrations(sub)


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
    from web.users.service import UserService

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
    from web.http.problems import Problem
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
    from web.http.problems import Problem
    from web.users.schemas import UserPatch

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
    from web.http.problems import Problem

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


def demo_data(settings: Settings, args: argparse.Namespace) -> int:
    """The admin's password: one line from standard input when piped, else generated,
    printed once and written to ``--password-file`` (mode 0600)."""
    from web.db.migrate import upgrade
    from web.db.session import create_engine, sessionmaker
    from web.demo import ADMIN, has_admin, is_empty, load_demo
    from web.http.problems import Problem
    from web.security import Passwords, Role
    from web.users.service import UserService

    async def go() -> int:
        engine = create_engine(settings.database)
        try:
            await upgrade(engine)
            db = sessionmaker(engine)
            if args.if_empty and not await is_empty(db):
                print("demo-data: the database is not empty; nothing done")
                return 0
            report = await load_demo(db, settings)
            generated = None
            if not await has_admin(db):
                password = "" if sys.stdin.isatty() else sys.stdin.readline().strip()
                if not password:
                    password = generated = secrets.token_urlsafe(18)
                users = UserService(db, Passwords(settings.web), settings.web.password_min_length)
                try:
                    await users.create(ADMIN, password, Role.ADMIN)
                except Problem as p:
                    return _fail(f"demo-data: admin: {p.detail}")
                report.admin_added = True
        finally:
            await engine.dispose()
        for line in report.skipped:
            print(f"demo-data: skipped {line}", file=sys.stderr)
        if not report.added:
            print("demo-data: everything is there already; nothing changed")
            return 0
        print(
            f"demo-data: added {report.tables} tables, {report.menu} menu items, "
            f"{report.stock} stock rows, {report.robots} robots"
            + (f", user {ADMIN!r} (admin)" if report.admin_added else "")
        )
        if generated is not None:
            path = Path(args.password_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(generated + "\n")
            os.chmod(path, 0o600)  # an existing file keeps its mode otherwise
            print(f"demo-data: admin password (shown once, also in {path}): {generated}")
        return 0

    return asyncio.run(go())


def rotate_data_key(settings: Settings, args: argparse.Namespace) -> int:
    """Exit 0 when every key is under the new data key, 1 when some would not open, 2 when
    the keys are not configured."""
    from protocol.sealing import parse_data_key
    from robodine.redisio.client import connect
    from web.db.migrate import upgrade
    from web.db.session import create_engine, sessionmaker
    from web.robots.registry import rotate_data_key as rotate

    if settings.data.key is None or settings.data.previous_key is None:
        return _fail(
            "rotate-data-key: set the new key as ROBODINE_DATA_KEY and the old one as "
            "ROBODINE_DATA_PREVIOUS_KEY"
        )
    new = parse_data_key(settings.data.key.get_secret_value())
    old = parse_data_key(settings.data.previous_key.get_secret_value())

    async def go() -> int:
        engine = create_engine(settings.database)
        redis = connect(settings.redis, name="rotate-data-key", decode=True)
        try:
            await upgrade(engine)
            report = await rotate(sessionmaker(engine), redis, new, old, source="cli")
        finally:
            await redis.aclose()
            await engine.dispose()
        print(
            f"rotate-data-key: re-sealed {report.resealed_sql} in SQL and "
            f"{report.resealed_redis} in rd:registry; {report.current} already current"
        )
        for problem in report.failed:
            print(f"rotate-data-key: cannot open {problem}", file=sys.stderr)
        return 1 if report.failed else 0

    return asyncio.run(go())
