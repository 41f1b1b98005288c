"""`robodine backup FILE` and `robodine restore FILE`: one tar.gz archive of a box.

Members: ``redis.jsonl`` (web/backup/redis_dump.py), ``database.sqlite3`` or
``database.pgdump`` (web/backup/database.py), ``config/robodine.toml`` (the file
in use, when there is one), ``secrets.env`` (only with ``--with-secrets``), and
``manifest.json`` last: versions, counts, and a SHA-256 per member. An archive
without its manifest is a truncated one.

Backup writes ``FILE.partial`` next to FILE and renames it when complete, so a
failure (Redis away, a full disk) leaves no archive that looks whole. Restore
reads and checks everything (the manifest, every checksum, the format and schema
versions, the database kind, that Redis and the database are empty) before it
writes anything.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import socket
import tarfile
import tempfile
import time
from collections.abc import Awaitable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

import orjson
from pydantic import BaseModel, SecretStr
from redis.asyncio import Redis
from redis.exceptions import RedisError

from config import CONFIG_ENV, Settings
from config.loader import ENV_PREFIX
from robodine import __version__
from robodine.redisio.client import connect, redacted_url
from robodine.redisio.keys import KEYS
from web.backup import database, redis_dump
from web.backup.database import BackupError

FORMAT = 1  # manifest.json's "format": what this code writes and reads
MEMBERS = frozenset(
    {
        "manifest.json",
        "redis.jsonl",
        "database.sqlite3",
        "database.pgdump",
        "config/robodine.toml",
        "secrets.env",
    }
)
T = TypeVar("T")
REDIS_TIMEOUT_S = 30.0  # a page of 1,000 entries, a pipeline of 1,000 XADDs


@dataclass
class Summary:
    path: Path
    manifest: dict[str, Any]


def _redis(settings: Settings) -> Redis:
    slow = settings.redis.model_copy(update={"request_timeout_s": REDIS_TIMEOUT_S})
    return connect(slow, name="robodine-backup")


def secrets_of(settings: Settings) -> dict[str, str]:
    """Every secret setting with a value, as the environment variable that sets it."""
    out: dict[str, str] = {}
    for section, model in settings:
        if not isinstance(model, BaseModel):
            continue
        for key, value in model:
            if isinstance(value, SecretStr):
                out[f"{ENV_PREFIX}{section}_{key}".upper()] = value.get_secret_value()
    for name in ("ROBODINE_DATABASE_URL", "ROBODINE_REDIS_URL"):  # URLs that hold a password
        if "@" in os.environ.get(name, ""):
            out[name] = os.environ[name]
    return out


def data_key_fingerprint(settings: Settings) -> str | None:
    key = settings.data.key_bytes
    return hashlib.sha256(key).hexdigest()[:16] if key else None


# ---- backup --------------------------------------------------------------------------


async def backup(settings: Settings, path: Path, *, with_secrets: bool) -> Summary:
    if path.is_dir():  # noqa: ASYNC240 - one stat, before anything runs
        raise BackupError(f"{path} is a directory: name the archive file")
    partial = path.with_name(path.name + ".partial")
    with tempfile.TemporaryDirectory(prefix="robodine-backup-", dir=path.parent) as work:
        try:
            manifest = await _write(settings, partial, Path(work), with_secrets)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)
    return Summary(path, manifest)


async def _write(settings: Settings, out: Path, work: Path, with_secrets: bool) -> dict[str, Any]:
    redis = _redis(settings)
    stats = redis_dump.DumpStats()
    dump = work / "redis.jsonl"
    try:
        info: dict[str, Any] = await redis.info("server")
        with dump.open("wb") as f:
            async for line in redis_dump.dump(redis, stats):
                f.write(line)
    except (RedisError, OSError) as exc:
        raise BackupError(
            f"Redis at {redacted_url(settings.redis.url)} does not answer ({exc}): "
            "no backup written"
        ) from None
    finally:
        await redis.aclose()
    kind = database.kind_of(settings.database.url)
    db_file = work / ("database.sqlite3" if kind == "sqlite" else "database.pgdump")
    dumped = await database.dump(settings.database.url, db_file)
    members: list[tuple[str, Path | bytes]] = [("redis.jsonl", dump), (db_file.name, db_file)]
    config = os.environ.get(CONFIG_ENV)
    if config and Path(config).is_file():  # noqa: ASYNC240 - one stat
        members.append(("config/robodine.toml", Path(config)))
    if with_secrets:
        lines = "".join(f"{k}={v}\n" for k, v in sorted(secrets_of(settings).items()))
        members.append(("secrets.env", lines.encode()))
    chat = sum(n for k, n in stats.entries.items() if k.startswith(KEYS.chat_prefix))
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "robodine": __version__,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "host": socket.gethostname(),
        "database": {
            "kind": dumped.kind,
            "revision": dumped.revision,
            "file": db_file.name,
            "rows": dumped.rows,
        },
        "redis": {
            "version": info.get("redis_version"),
            "keys": stats.keys,
            "streams": stats.entries,
        },
        "counts": {
            "orders": dumped.rows.get("orders", 0),
            "events": stats.entries.get(KEYS.events, 0),
            "chat_messages": chat,
            "robots": stats.members.get(KEYS.robots, 0),
            "users": dumped.rows.get("users", 0),
        },
        "config": config if config else None,
        "secrets": with_secrets,
        "data_key": data_key_fingerprint(settings),
        "files": {},
    }
    old = os.umask(0o077)  # robot keys, sealed keys, perhaps secrets: for root's eyes
    try:
        with tarfile.open(out, "w:gz") as tar:
            for name, src in members:
                digest, size = _add(tar, name, src)
                manifest["files"][name] = {"sha256": digest, "bytes": size}
            _add(tar, "manifest.json", orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
    finally:
        os.umask(old)
    return manifest


def _add(tar: tarfile.TarFile, name: str, src: Path | bytes) -> tuple[str, int]:
    data = src if isinstance(src, bytes) else None
    info = tarfile.TarInfo(name)
    info.mtime = int(time.time())
    info.mode = 0o600
    h = hashlib.sha256()
    if data is not None:
        h.update(data)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        assert isinstance(src, Path)
        info.size = src.stat().st_size
        with src.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        with src.open("rb") as f:
            tar.addfile(info, f)
    return h.hexdigest(), info.size


# ---- restore -------------------------------------------------------------------------


@contextlib.contextmanager
def opened(path: Path) -> Iterator[tuple[dict[str, Any], Path]]:
    """The archive's manifest and a directory holding its checked members."""
    with tempfile.TemporaryDirectory(prefix="robodine-restore-") as tmp:
        work = Path(tmp)
        try:
            with tarfile.open(path, "r:gz") as tar:
                for member in tar:
                    if not member.isfile() or member.name not in MEMBERS:
                        raise BackupError(f"{path}: unexpected member {member.name!r}")
                    target = work / member.name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    src = tar.extractfile(member)
                    assert src is not None
                    with target.open("wb") as f:
                        _copy(src, f)
        except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
            raise BackupError(f"{path}: truncated or not a robodine backup ({exc})") from None
        manifest_file = work / "manifest.json"
        if not manifest_file.is_file():
            raise BackupError(f"{path}: no manifest.json: truncated or not a robodine backup")
        manifest = orjson.loads(manifest_file.read_bytes())
        _check_manifest(path, manifest, work)
        yield manifest, work


def _copy(src: IO[bytes], dest: IO[bytes]) -> None:
    for chunk in iter(lambda: src.read(1 << 20), b""):
        dest.write(chunk)


def _check_manifest(path: Path, manifest: dict[str, Any], work: Path) -> None:
    fmt = manifest.get("format")
    if not isinstance(fmt, int) or fmt > FORMAT:
        raise BackupError(
            f"{path} was written by robodine {manifest.get('robodine')} in archive format "
            f"{fmt}; this robodine {__version__} reads format {FORMAT}: install a newer one"
        )
    for name, want in manifest.get("files", {}).items():
        f = work / name
        if not f.is_file():
            raise BackupError(f"{path}: {name} is missing: truncated")
        h = hashlib.sha256()
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        if h.hexdigest() != want["sha256"]:
            raise BackupError(f"{path}: {name} does not match its checksum: damaged")


async def restore(settings: Settings, path: Path, *, force: bool) -> Summary:
    from web.db.migrate import upgrade
    from web.db.session import create_engine

    with opened(path) as (manifest, work):
        db = manifest["database"]
        kind = database.kind_of(settings.database.url)
        if db["kind"] != kind:
            raise BackupError(
                f"{path} holds a {db['kind']} database and database.url is {kind}: restore "
                f"into a {db['kind']} database (a move between kinds is not a restore)"
            )
        _check_revision(path, db.get("revision"))
        redis = _redis(settings)
        try:
            taken = await _answer(redis_dump.occupied(redis))
            if taken and not force:
                raise BackupError(
                    f"Redis already holds {taken} rd:* keys: restore into an empty Redis, "
                    "or pass --force to replace them"
                )
            rows = await database.occupied(settings.database.url)
            if rows and not force:
                busy = ", ".join(f"{t} ({n})" for t, n in sorted(rows.items())[:5])
                raise BackupError(
                    f"the database is not empty: {busy}: restore into an empty one, or "
                    "pass --force to replace it"
                )
            await database.load(settings.database.url, work / db["file"])
            if taken:
                await _answer(redis_dump.clear(redis))
            with (work / "redis.jsonl").open("rb") as f:
                await _answer(redis_dump.load(redis, f))
        finally:
            await redis.aclose()
        engine = create_engine(settings.database)
        try:
            await upgrade(engine)  # an older archive's schema, brought to this code's
        finally:
            await engine.dispose()
    return Summary(path, manifest)


async def _answer(step: Awaitable[T]) -> T:
    try:
        return await step
    except RedisError as exc:
        raise BackupError(f"Redis does not answer ({exc})") from None


def _check_revision(path: Path, revision: str | None) -> None:
    from web.db.migrate import known_revisions

    if revision is not None and revision not in known_revisions():
        raise BackupError(
            f"{path} holds a database at schema {revision}, which this robodine {__version__} "
            "does not know (a newer version wrote it): install that version to restore it"
        )
