"""A real, small filesystem that tests can fill, without going near the machine's own disk.

Root mounts a tmpfs of a few hundred KiB; anyone else gets a skip (a fault-injecting
path would be a mock of the disk, which these tests exist to avoid).
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_filesystem(where: Path, size_kib: int = 512) -> Iterator[Path]:
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root")
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kib}k,mode=0755", "tmpfs", str(where)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(fs: Path, name: str = "filler") -> Path:
    """Write zeros into ``fs`` until the filesystem says no space is left."""
    path = fs / name
    for chunk in (b"\0" * 4096, b"\0"):  # then the last bytes a block would still hold
        with path.open("ab", buffering=0) as f:
            try:
                while f.write(chunk):
                    pass
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
    return path


def free(filler: Path) -> None:
    filler.unlink()
