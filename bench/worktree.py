"""A git worktree of another commit, for measuring two code trees in one run."""

from __future__ import annotations

import contextlib
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the tree this bench runs from


def short_commit(ref: str, root: Path = ROOT) -> str:
    """``ref``'s commit, abbreviated; ValueError when it names none (or root is no checkout)."""
    done = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", f"{ref}^{{commit}}"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise ValueError(
            f"{ref!r} is not a commit of the git checkout at {root}: "
            f"{done.stderr.strip() or done.stdout.strip()}"
        )
    return done.stdout.strip()


@contextlib.contextmanager
def checkout(ref: str, root: Path = ROOT) -> Iterator[Path]:
    """A detached worktree of ``ref`` in a temp dir, removed again afterwards."""
    short_commit(ref, root)  # a clear error before anything is created
    parent = Path(tempfile.mkdtemp(prefix="rd-bench-ref-"))
    tree = parent / "tree"
    subprocess.run(
        ["git", "-C", str(root), "worktree", "add", "--detach", str(tree), ref],
        check=True,
        capture_output=True,
    )
    try:
        yield tree
    finally:
        subprocess.run(
            ["git", "-C", str(root), "worktree", "remove", "--force", str(tree)],
            check=False,
            capture_output=True,
        )
        subprocess.run(
            ["git", "-C", str(root), "worktree", "prune"], check=False, capture_output=True
        )
        with contextlib.suppress(OSError):
            parent.rmdir()
