"""What the installer does to a tree, one idempotent step at a time.

Every step compares first and acts only on a difference, so a second run changes
nothing and says so. ``Context`` maps the absolute paths of a real box (/etc/robodine,
/opt/robodine) into ``--prefix``, skips what only a real box has (useradd, systemctl,
apt-get) in a tree, and with ``--dry-run`` reports what it would do and does nothing.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

CHANGED, UNCHANGED, SKIPPED, KEPT = "changed", "unchanged", "skipped", "kept"


class InstallError(Exception):
    """A step that cannot be done; the run stops there and says why."""


@dataclass
class Context:
    prefix: Path  # "/" on a real box
    dry_run: bool = False
    user: str = "robodine"  # the services' user and group
    say: Callable[[str], None] = print
    results: list[tuple[str, str]] = field(default_factory=list)
    _unknown: set[str] = field(default_factory=set)  # owners this box does not have

    @property
    def real(self) -> bool:
        """A real box: users, services and the kernel are ours to change."""
        return self.prefix == Path("/")

    @property
    def root(self) -> bool:
        return os.geteuid() == 0

    def path(self, absolute: str) -> Path:
        return self.prefix / absolute.lstrip("/")

    def report(self, outcome: str, what: str) -> str:
        self.results.append((outcome, what))
        label = "would" if self.dry_run and outcome == CHANGED else outcome
        self.say(f"  {label:<9}  {what}")
        return outcome

    def ids(self, user: str, group: str) -> tuple[int, int] | None:
        """uid and gid to chown to; None when not root (a tree a packager builds) or, in a
        tree, when the box has no such user or group (root's then)."""
        if not self.root:
            self._note("owners", "not root: the files keep this user's owner and group")
            return None
        try:
            uid = 0 if user == "root" else pwd.getpwnam(user).pw_uid
        except KeyError:
            if self.real and not self.dry_run:
                raise InstallError(f"no user {user!r}") from None
            self._note(user, f"no user {user} on this box: root owns its files in the tree")
            uid = 0
        try:
            gid = 0 if group == "root" else grp.getgrnam(group).gr_gid
        except KeyError:
            if self.real and not self.dry_run:
                raise InstallError(f"no group {group!r}") from None
            self._note(f"group {group}", f"no group {group} on this box: root's in the tree")
            gid = 0
        return uid, gid

    def _note(self, key: str, text: str) -> None:
        if key not in self._unknown:
            self._unknown.add(key)
            self.say(f"  {'note':<9}  {text}")

    @property
    def changed(self) -> int:
        return sum(1 for outcome, _ in self.results if outcome == CHANGED)


def _owned(ctx: Context, path: Path, mode: int, user: str, group: str) -> bool:
    """Whether ``path`` already has ``mode`` and the owners; fixes them unless dry."""
    st = path.stat()
    ids = ctx.ids(user, group)
    right = (st.st_mode & 0o7777) == mode and (ids is None or (st.st_uid, st.st_gid) == ids)
    if not right and not ctx.dry_run:
        if ids is not None:
            os.chown(path, *ids)
        path.chmod(mode)
    return right


def ensure_dir(
    ctx: Context, absolute: str, mode: int, user: str = "root", group: str = "root"
) -> str:
    path = ctx.path(absolute)
    what = f"{absolute}/ ({mode:04o} {user}:{group})"
    if path.is_dir():
        return ctx.report(UNCHANGED if _owned(ctx, path, mode, user, group) else CHANGED, what)
    if not ctx.dry_run:
        path.mkdir(parents=True, exist_ok=True)
        _owned(ctx, path, mode, user, group)
    return ctx.report(CHANGED, what)


def ensure_file(
    ctx: Context,
    absolute: str,
    content: bytes | Callable[[], bytes],
    mode: int,
    user: str = "root",
    group: str = "root",
    *,
    keep: bool = False,
    note: str = "",
) -> str:
    """The file with ``content`` (made only when needed: a callable); ``keep``: a file
    already there is the operator's and stays as it is, but for mode and owners."""
    path = ctx.path(absolute)
    what = f"{absolute} ({mode:04o} {user}:{group}{', ' + note if note else ''})"
    if path.is_file():
        if keep:
            right = _owned(ctx, path, mode, user, group)
            return ctx.report(KEPT if right else CHANGED, what + ("" if right else ": mode/owner"))
        data = content() if callable(content) else content
        if path.read_bytes() == data:
            return ctx.report(UNCHANGED if _owned(ctx, path, mode, user, group) else CHANGED, what)
    else:
        data = content() if callable(content) else content
    if not ctx.dry_run:
        write(ctx, path, data, mode, user, group)
    return ctx.report(CHANGED, what)


def write(ctx: Context, path: Path, data: bytes, mode: int, user: str, group: str) -> None:
    """Atomically, with the mode and owners from the start (no moment world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.robodine-new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        ids = ctx.ids(user, group)
        if ids is not None:
            os.chown(tmp, *ids)
        tmp.chmod(mode)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def ensure_line(ctx: Context, absolute: str, line: str, *, last: bool = True) -> str:
    """``line`` in the file (appended: it must come ``last``, where a later directive of
    the file cannot override it). A file that is not there: skipped (its package is not)."""
    path = ctx.path(absolute)
    what = f"{absolute}: {line!r}{' as the last line' if last else ''}"
    if not path.is_file():
        return ctx.report(SKIPPED, f"{what}: no such file (is its package installed?)")
    lines = path.read_text().splitlines()
    meaningful = [x for x in lines if x.strip() and not x.lstrip().startswith("#")]
    if line in lines and (not last or meaningful[-1:] == [line]):
        return ctx.report(UNCHANGED, what)
    if not ctx.dry_run:
        st = path.stat()
        kept = [x for x in lines if x != line]
        data = ("\n".join([*kept, line]) + "\n").encode()
        write_like(path, data, st)
    return ctx.report(CHANGED, what)


def drop_line(ctx: Context, absolute: str, line: str) -> str:
    path = ctx.path(absolute)
    what = f"{absolute}: {line!r}"
    if not path.is_file() or line not in path.read_text().splitlines():
        return ctx.report(UNCHANGED, what + " (not there)")
    if not ctx.dry_run:
        kept = [x for x in path.read_text().splitlines() if x != line]
        write_like(path, ("\n".join(kept) + "\n").encode(), path.stat())
    return ctx.report(CHANGED, what + " removed")


def write_like(path: Path, data: bytes, st: os.stat_result) -> None:
    """Replace a file of someone else's package, keeping its mode and owners."""
    tmp = path.with_name(f".{path.name}.robodine-new")
    tmp.write_bytes(data)
    with contextlib.suppress(PermissionError):
        os.chown(tmp, st.st_uid, st.st_gid)
    tmp.chmod(st.st_mode & 0o7777)
    os.replace(tmp, path)


def ensure_tree(ctx: Context, absolute: str, source: Path) -> str:
    """A copy of the directory ``source`` (files compared by content), root-owned, 0644."""
    path = ctx.path(absolute)
    want = {p.relative_to(source): p.read_bytes() for p in source.rglob("*") if p.is_file()}
    have = {p.relative_to(path): p for p in path.rglob("*") if p.is_file()} if path.is_dir() else {}
    differ = sorted(
        str(r) for r, data in want.items() if r not in have or have[r].read_bytes() != data
    ) + sorted(str(r) for r in have if r not in want)
    what = f"{absolute}/ ({len(want)} files from {source})"
    if not differ:
        return ctx.report(UNCHANGED, what)
    if not ctx.dry_run:
        if path.exists():
            shutil.rmtree(path)
        for rel, data in want.items():
            write(ctx, path / rel, data, 0o644, "root", "root")
    return ctx.report(CHANGED, what)


def remove(ctx: Context, absolute: str) -> str:
    path = ctx.path(absolute)
    if not path.exists() and not path.is_symlink():
        return ctx.report(UNCHANGED, f"{absolute} (not there)")
    if not ctx.dry_run:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    return ctx.report(CHANGED, f"{absolute} removed")


def run(ctx: Context, argv: Sequence[str], what: str, *, check: bool = True) -> str:
    """A command of the real box (skipped in a tree); its failure stops the run."""
    if not ctx.real:
        return ctx.report(SKIPPED, f"{what} (not in a --prefix tree)")
    if not ctx.dry_run:
        done = execute(argv)
        if check and done.returncode != 0:
            raise InstallError(f"{' '.join(argv)}: {done.stderr.strip() or done.returncode}")
    return ctx.report(CHANGED, what)


def execute(argv: Sequence[str]) -> subprocess.CompletedProcess[str]:
    """Run a program of ours (no shell), its output kept for the error message."""
    return subprocess.run(  # noqa: S603 - argv is the installer's own, no shell
        list(argv), capture_output=True, text=True, check=False
    )
