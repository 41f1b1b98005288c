"""Talking to the web tier from the harness: the bench user, a token, plain JSON requests."""

from __future__ import annotations

import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson

from bench.procs import child_env, robodine_argv

USER = "bench"
PASSWORD = "bench-password-0123"  # a throwaway user of a throwaway database


def add_user(
    config: Path,
    name: str,
    password: str,
    role: str,
    cwd: Path,
    *,
    env: dict[str, str] | None = None,
) -> None:
    """``robodine users add`` in a child process (``env``: child_env() unless given, e.g.
    with another tree's PYTHONPATH)."""
    out = subprocess.run(
        robodine_argv("users", "add", name, "--role", role, "--config", str(config)),
        input=password + "\n",
        capture_output=True,
        text=True,
        env=child_env() if env is None else env,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"robodine users add {name} failed: {out.stderr.strip()[-500:]}")


def request(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    token: str | None = None,
    timeout: float = 30.0,
) -> Any:
    headers = {"Content-Type": "application/json"} if body is not None else {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        method=method,
        headers=headers,
        data=orjson.dumps(body) if body is not None else None,
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            data = resp.read()
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {path}: {exc.code} {exc.read()[:300]!r}") from None
    return orjson.loads(data) if data else None


def login(port: int, name: str = USER, password: str = PASSWORD) -> str:
    return str(
        request(port, "POST", "/api/auth/login", {"username": name, "password": password})["token"]
    )
