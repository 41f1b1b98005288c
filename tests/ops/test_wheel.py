"""A real install, not a checkout: the wheel carries every file the code opens at run time.
Built, installed into a fresh venv, and started from there (outside the repository), the
web tier migrates an empty database and serves the dashboard and /api/docs."""

from __future__ import annotations

import os
import re
import site
import socket
import subprocess
import sys
import time
import urllib.request
import zipfile
from pathlib import Path

import pytest

import robodine
from tests.servers import RedisServer, free_port
from web.db.migrate import head_revision

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_wheel_has_the_data_files_metadata_and_license(built_wheel: Path) -> None:
    names = set(zipfile.ZipFile(built_wheel).namelist())
    for path in REPO.joinpath("web", "static").rglob("*"):
        if path.is_file():
            assert str(path.relative_to(REPO)) in names, path
    for path in REPO.joinpath("web", "db", "migrations").rglob("*.py"):
        assert str(path.relative_to(REPO)) in names, path
    assert {
        "web/db/alembic.ini",
        "config/example.toml",
        "config/redis-robodine.conf",
        "config/mosquitto-robodine.conf",
        "config/mosquitto-acl.example",
    } <= names
    data = f"robodine-{robodine.__version__}.data/data/share/robodine"
    for unit in REPO.joinpath("systemd").iterdir():
        assert f"{data}/systemd/{unit.name}" in names
    assert f"{data}/docs/operations.md" in names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/")]
    meta = (
        zipfile.ZipFile(built_wheel)
        .read(f"robodine-{robodine.__version__}.dist-info/METADATA")
        .decode()
    )
    assert f"Version: {robodine.__version__}\n" in meta
    assert "Classifier: Private :: Do Not Upload\n" in meta
    assert f"robodine-{robodine.__version__}.dist-info/licenses/LICENSE" in names


def test_the_changelog_names_this_version_first() -> None:
    first = re.search(r"^## (\S+)", (REPO / "CHANGELOG.md").read_text(), re.M)
    assert first is not None and first.group(1) == robodine.__version__


def fresh_venv(root: Path, wheel: Path) -> Path:
    """A venv with the wheel alone installed; its dependencies come from this test run's
    environment through a path file (the network is not needed, and the checkout is not
    on the path: its editable install's finder lives in a .pth this one never reads)."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "--no-deps", "--no-index", str(wheel)],
        check=True,
        timeout=300,
    )
    purelib = next((venv / "lib").glob("python3*/site-packages"))
    (purelib / "zz-test-dependencies.pth").write_text(site.getsitepackages()[0] + "\n")
    return venv


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as r:
        body: bytes = r.read()
        return body


def test_the_installed_wheel_serves_the_dashboard_and_api_docs(
    built_wheel: Path, redis_server: RedisServer, tmp_path: Path
) -> None:
    venv = fresh_venv(tmp_path, built_wheel)
    python = str(venv / "bin" / "python")
    where = subprocess.run(
        [python, "-c", "import web, robodine; print(web.__file__); print(robodine.__version__)"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    ).stdout.split()
    assert where[0].startswith(str(venv)) and where[1] == robodine.__version__
    share = venv / "share" / "robodine"
    assert (share / "systemd" / "robodine-web.service").is_file()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBODINE_")}
    env.update(
        ROBODINE_REDIS_URL=redis_server.url,
        ROBODINE_WEB_PORT=str(port),
        ROBODINE_WEB_METRICS_PORT="0",
        ROBODINE_WEB_SECRET="w" * 40,
        ROBODINE_DATA_KEY="cd" * 32,
        ROBODINE_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/empty.sqlite3",
        ROBODINE_MEDIA_URL=str(tmp_path / "media"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(venv / "bin" / "robodine"), "web"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        assert '<script type="module" src="/ui/main.js">' in get(base + "/").decode()
        assert b"import " in get(base + "/ui/main.js")
        assert "<html" in get(base + "/api/docs").decode().lower()
        assert b'"openapi"' in get(base + "/api/openapi.json")
        current = subprocess.run(
            [str(venv / "bin" / "robodine"), "db", "current"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        # migrated at start, to the head of the migrations the wheel carries
        head = head_revision()
        assert head is not None and head in current.stdout + current.stderr
    finally:
        proc.terminate()
        proc.wait(30)
