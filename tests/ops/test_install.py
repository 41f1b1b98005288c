"""`robodine install` / `uninstall` into a --prefix tree: every file with its mode and
owners, a second run that changes nothing and says so, a dry run that writes nothing,
the units verified by systemd-analyze, and a refusal (with nothing changed) on a box
that is not Debian or without root."""

from __future__ import annotations

import os
import shutil
import ssl
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import load_settings
from robodine.install import plan
from robodine.install.steps import Context, InstallError

REPO = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.integration, pytest.mark.slow]
USER = "daemon"  # a user and group Debian always has: the tree's files go to it


def robodine(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROBODINE_")}
    return subprocess.run(
        [sys.executable, "-m", "robodine", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd="/",
    )


@pytest.fixture(scope="module")
def tree(built_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("tree")
    (root / "etc" / "redis").mkdir(parents=True)
    (root / "etc" / "redis" / "redis.conf").write_text(
        "appendonly no\nmaxmemory-policy allkeys-lru\n"
    )
    done = robodine(
        "install", "--prefix", str(root), "--wheel", str(built_wheel), "--no-deps", "--user", USER
    )
    assert done.returncode == 0, done.stdout + done.stderr
    yield root
    shutil.rmtree(root, ignore_errors=True)


def owner(path: Path) -> tuple[str, str, int]:
    import grp
    import pwd

    st = path.stat()
    return (
        pwd.getpwuid(st.st_uid).pw_name,
        grp.getgrgid(st.st_gid).gr_name,
        stat.S_IMODE(st.st_mode),
    )


def test_every_file_in_place_with_its_mode_and_owners(tree: Path) -> None:
    want = {
        "opt/robodine": ("root", "root", 0o755),
        "opt/robodine/docs/operations.md": ("root", "root", 0o644),
        "usr/local/bin/robodine": ("root", "root", 0o755),
        "etc/robodine": ("root", USER, 0o750),
        "etc/robodine/robodine.toml": ("root", USER, 0o640),
        "etc/robodine/secrets.env": ("root", USER, 0o640),
        "var/lib/robodine": (USER, USER, 0o750),
        "etc/robodine/tls": ("root", USER, 0o750),
        "etc/robodine/tls/ca.crt": ("root", "root", 0o644),
        "etc/robodine/tls/ca.key": ("root", "root", 0o600),
        "etc/robodine/tls/robodine.crt": ("root", "root", 0o644),
        "etc/robodine/tls/robodine.key": ("root", USER, 0o640),
        "etc/sysctl.d/99-robodine.conf": ("root", "root", 0o644),
        "etc/redis/robodine.conf": ("root", "redis", 0o640),
        "etc/mosquitto/conf.d/robodine.conf": ("root", "root", 0o644),
        "etc/mosquitto/robodine.acl": ("root", "mosquitto", 0o640),
        "etc/mosquitto/robodine.passwd": ("root", "mosquitto", 0o640),
    }
    for unit in (REPO / "systemd").glob("*.service"):
        want[f"etc/systemd/system/{unit.name}"] = ("root", "root", 0o644)
        assert (tree / "etc/systemd/system" / unit.name).read_bytes() == unit.read_bytes()
    want["etc/systemd/system/robodine.target"] = ("root", "root", 0o644)
    for rel, expected in want.items():
        assert owner(tree / rel) == expected, rel
    assert (tree / "etc/redis/robodine.conf").read_bytes() == (
        REPO / "config/redis-robodine.conf"
    ).read_bytes()
    lines = (tree / "etc/redis/redis.conf").read_text().splitlines()
    assert lines[-1] == "include /etc/redis/robodine.conf" and lines[0] == "appendonly no"
    assert (tree / "opt/robodine/.venv/bin/robodine").is_file()
    stamp = (tree / "opt/robodine/.venv/.robodine-wheel").read_text().split()
    assert stamp[0] == __import__("robodine").__version__


def issued(tls: Path) -> None:
    from cryptography import x509

    ca = x509.load_pem_x509_certificate((tls / "ca.crt").read_bytes())
    server = x509.load_pem_x509_certificate((tls / "robodine.crt").read_bytes())
    server.verify_directly_issued_by(ca)
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert "127.0.0.1" in {str(a) for a in names.get_values_for_type(x509.IPAddress)}
    ssl.create_default_context().load_cert_chain(tls / "robodine.crt", tls / "robodine.key")


def test_the_config_is_this_boxs_own(tree: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = dict(
        line.split("=", 1) for line in (tree / "etc/robodine/secrets.env").read_text().splitlines()
    )
    assert set(secrets) == {"ROBODINE_WEB_SECRET", "ROBODINE_DATA_KEY"}
    assert all(len(v) == 64 for v in secrets.values())
    for k, v in secrets.items():
        monkeypatch.setenv(k, v)
    s = load_settings(tree / "etc/robodine/robodine.toml")
    example = load_settings(REPO / "config/example.toml")
    assert [r.id for r in s.robots] == [r.id for r in example.robots]
    keys = {r.key.get_secret_value() for r in s.robots}
    assert not keys & {r.key.get_secret_value() for r in example.robots}  # never the public ones
    assert s.web.host == "0.0.0.0" and s.web.origins[0] == "https://127.0.0.1:8080"
    assert str(s.web.tls_cert) == "/etc/robodine/tls/robodine.crt"
    assert str(s.spool.path) == "/var/lib/robodine/spool.sqlite3"
    assert s.database.url == "sqlite+aiosqlite:////var/lib/robodine/robodine.sqlite3"
    # the certificate is the CA's, for this box's loopback names, and goes with its key
    issued(tree / "etc/robodine/tls")


def test_a_second_run_changes_nothing_and_says_so(tree: Path, built_wheel: Path) -> None:
    before = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file() and ".venv" not in p.parts}
    done = robodine(
        "install", "--prefix", str(tree), "--wheel", str(built_wheel), "--no-deps", "--user", USER
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "nothing changed: everything was already in place"
    assert " changed " not in done.stdout
    after = {p: p.read_bytes() for p in tree.rglob("*") if p.is_file() and ".venv" not in p.parts}
    assert after == before


def test_a_kept_config_keeps_its_content_and_gets_its_mode_back(
    tree: Path, built_wheel: Path
) -> None:
    config = tree / "etc/robodine/robodine.toml"
    text = config.read_text() + "\n# edited by the operator\n"
    config.write_text(text)
    config.chmod(0o644)
    done = robodine(
        "install", "--prefix", str(tree), "--wheel", str(built_wheel), "--no-deps", "--user", USER
    )
    assert done.returncode == 0
    assert "changed    /etc/robodine/robodine.toml" in done.stdout and "mode/owner" in done.stdout
    assert config.read_text() == text and owner(config) == ("root", USER, 0o640)


def test_a_new_server_certificate_keeps_the_ca_the_tablets_trust(
    tree: Path, built_wheel: Path
) -> None:
    tls = tree / "etc/robodine/tls"
    ca, old = (tls / "ca.crt").read_bytes(), (tls / "robodine.crt").read_bytes()
    (tls / "robodine.crt").unlink()
    (tls / "robodine.key").unlink()
    done = robodine(
        "install", "--prefix", str(tree), "--wheel", str(built_wheel), "--no-deps", "--user", USER
    )
    assert done.returncode == 0, done.stderr
    assert (tls / "ca.crt").read_bytes() == ca and (tls / "robodine.crt").read_bytes() != old
    issued(tls)
    assert owner(tls / "robodine.key") == ("root", USER, 0o640)


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_the_installed_units_verify(tree: Path) -> None:
    units = sorted(str(p) for p in (tree / "etc/systemd/system").iterdir())
    proc = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60
    )
    complaints = [
        line
        for line in (proc.stdout + proc.stderr).splitlines()
        if line.strip() and "/opt/robodine/.venv/bin/robodine is not executable" not in line
    ]
    assert complaints == []


def test_a_dry_run_writes_nothing(built_wheel: Path, tmp_path: Path) -> None:
    done = robodine(
        "install", "--prefix", str(tmp_path / "t"), "--wheel", str(built_wheel), "--dry-run"
    )
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "t").exists()
    assert "would      /etc/robodine/secrets.env" in done.stdout
    assert done.stdout.splitlines()[-1].endswith("steps would change")


def test_uninstall_keeps_the_data_unless_purged(built_wheel: Path, tmp_path: Path) -> None:
    root = tmp_path / "t"
    (root / "etc/redis").mkdir(parents=True)
    (root / "etc/redis/redis.conf").write_text("appendonly no\n")
    assert (
        robodine(
            "install",
            "--prefix",
            str(root),
            "--wheel",
            str(built_wheel),
            "--no-deps",
            "--user",
            USER,
        ).returncode
        == 0
    )
    (root / "var/lib/robodine/robodine.sqlite3").write_bytes(b"orders")
    done = robodine("uninstall", "--prefix", str(root), "--user", USER)
    assert done.returncode == 0, done.stderr
    assert not (root / "opt/robodine").exists() and not (root / "usr/local/bin/robodine").exists()
    assert not list((root / "etc/systemd/system").iterdir())
    assert (root / "etc/redis/redis.conf").read_text() == "appendonly no\n"
    assert (root / "var/lib/robodine/robodine.sqlite3").read_bytes() == b"orders"
    assert (root / "etc/robodine/secrets.env").is_file()
    assert "kept       /var/lib/robodine (data: --purge removes it)" in done.stdout
    again = robodine("uninstall", "--prefix", str(root), "--user", USER)
    assert again.stdout.splitlines()[-1] == "nothing changed: everything was already in place"
    purged = robodine("uninstall", "--prefix", str(root), "--purge", "--user", USER)
    assert purged.returncode == 0
    assert not (root / "var/lib/robodine").exists() and not (root / "etc/robodine").exists()


def test_not_debian_says_so_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "os-release"
    fake.write_text('PRETTY_NAME="Fedora Linux 40"\nID=fedora\nVERSION_ID=40\n')
    monkeypatch.setattr(plan, "OS_RELEASE", fake)
    said: list[str] = []
    ctx = Context(prefix=tmp_path / "t", say=said.append)
    with pytest.raises(InstallError, match=r"this is not Debian \(Fedora Linux 40\).*nothing"):
        plan.install(ctx, wheel=None, python="/usr/bin/python3", no_deps=True, find_links=None)
    assert not (tmp_path / "t").exists() and said == []


def test_without_root_says_so_and_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    said: list[str] = []
    with pytest.raises(InstallError) as err:
        plan.install(
            Context(prefix=Path("/"), say=said.append),
            wheel=None,
            python="/usr/bin/python3",
            no_deps=True,
            find_links=None,
        )
    assert str(err.value) == "run it as root (sudo robodine install); nothing changed"
    assert said == []
    # a tree needs no root: a packager builds it as themselves
    ctx = Context(prefix=tmp_path / "t", dry_run=True, say=said.append)
    plan.install(ctx, wheel=None, python="/usr/bin/python3", no_deps=True, find_links=None)
    assert ctx.changed > 10 and not (tmp_path / "t").exists()


def test_the_example_renders_for_a_box() -> None:
    text = plan._config_text(REPO / "config/example.toml")
    web = tomllib.loads(text)["web"]
    assert web["host"] == "0.0.0.0" and web["tls_key"] == "/etc/robodine/tls/robodine.key"
