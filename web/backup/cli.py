"""`robodine backup FILE [--with-secrets]` and `robodine restore FILE [--force]`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from config import Settings
from web.backup.archive import backup, data_key_fingerprint, restore
from web.backup.database import BackupError


def register(sub: Any) -> None:
    from robodine.cli import command

    p = command(
        sub,
        "backup",
        run_backup,
        "write one archive of Redis's rd:* keys, the database and the config, while it runs",
    )
    p.add_argument("file", type=Path, help="the archive to write (a .tar.gz)")
    p.add_argument(
        "--with-secrets",
        action="store_true",
        help="also the secret settings (token secret, data key, passwords) as secrets.env",
    )
    p = command(
        sub,
        "restore",
        run_restore,
        "restore an archive into an empty Redis and database (the system stopped)",
    )
    p.add_argument("file", type=Path, help="an archive written by robodine backup")
    p.add_argument("--force", action="store_true", help="replace what Redis and the database hold")


def _fail(message: str) -> int:
    print(f"robodine: {message}", file=sys.stderr)
    return 1


def run_backup(settings: Settings, args: argparse.Namespace) -> int:
    try:
        done = asyncio.run(backup(settings, args.file, with_secrets=args.with_secrets))
    except BackupError as exc:
        return _fail(f"backup: {exc}")
    except SQLAlchemyError as exc:
        return _fail(f"backup: the database does not answer ({exc.__class__.__name__}: {exc})")
    c = done.manifest["counts"]
    print(
        f"wrote {done.path}: {c['orders']} orders, {c['events']} events, "
        f"{c['chat_messages']} chat messages, {c['robots']} robots, {c['users']} users"
        + (" and the secrets" if args.with_secrets else " (no secrets: --with-secrets)")
    )
    return 0


def run_restore(settings: Settings, args: argparse.Namespace) -> int:
    if not args.file.is_file():
        return _fail(f"restore: {args.file}: no such file")
    try:
        done = asyncio.run(restore(settings, args.file, force=args.force))
    except BackupError as exc:
        return _fail(f"restore: {exc}")
    except SQLAlchemyError as exc:
        return _fail(f"restore: the database does not answer ({exc.__class__.__name__}: {exc})")
    m = done.manifest
    c = m["counts"]
    print(
        f"restored {done.path} (robodine {m['robodine']}, {m['created_at']}, {m['host']}): "
        f"{c['orders']} orders, {c['events']} events, {c['chat_messages']} chat messages, "
        f"{c['robots']} robots, {c['users']} users"
    )
    theirs, ours = m.get("data_key"), data_key_fingerprint(settings)
    if theirs and theirs != ours:
        print(
            f"robodine: restore: the archive's robot keys are sealed with data key {theirs}, "
            f"this box has {ours or 'none'}: set ROBODINE_DATA_KEY to the archive's "
            "(its secrets.env, when written with --with-secrets)",
            file=sys.stderr,
        )
    return 0
