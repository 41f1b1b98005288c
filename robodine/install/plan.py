"""`robodine install` and `robodine uninstall`: the steps, in order (docs/operations.md).

The files come from this installation: a checkout's systemd/, config/ and docs/, or
the wheel's package data and share/robodine. The code goes into /opt/robodine/.venv
from a wheel (built from the checkout when none is given), so the box runs a real
install, never the checkout.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import sys
import tempfile
import tomllib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import config as config_package
from config.network import addresses, host_names
from robodine.install import tls
from robodine.install.steps import (
    CHANGED,
    SKIPPED,
    UNCHANGED,
    Context,
    InstallError,
    drop_line,
    ensure_dir,
    ensure_file,
    ensure_line,
    ensure_tree,
    execute,
    remove,
    run,
)

OS_RELEASE = Path("/etc/os-release")
SUPPORTED = ("12", "13")  # Debian bookworm, trixie
OPT, VENV = "/opt/robodine", "/opt/robodine/.venv"
ETC, STATE, TLS = "/etc/robodine", "/var/lib/robodine", "/etc/robodine/tls"
CONFIG, SECRETS = f"{ETC}/robodine.toml", f"{ETC}/secrets.env"
UNITS = "/etc/systemd/system"
SYSCTL = "/etc/sysctl.d/99-robodine.conf"
REDIS_SNIPPET, REDIS_MAIN = "/etc/redis/robodine.conf", "/etc/redis/redis.conf"
REDIS_INCLUDE = f"include {REDIS_SNIPPET}"
MOSQUITTO_SNIPPET = "/etc/mosquitto/conf.d/robodine.conf"
MOSQUITTO_ACL, MOSQUITTO_PASSWD = "/etc/mosquitto/robodine.acl", "/etc/mosquitto/robodine.passwd"
WRAPPER = "/usr/local/bin/robodine"
WHEEL_STAMP = f"{VENV}/.robodine-wheel"
CERT, KEY = f"{TLS}/robodine.crt", f"{TLS}/robodine.key"
CA_CERT, CA_KEY = f"{TLS}/ca.crt", f"{TLS}/ca.key"
PACKAGES = {"python3": "python3-venv", "redis-server": "redis-server", "mosquitto": "mosquitto"}

WRAPPER_TEXT = f"""#!/bin/sh
# robodine as the services run it: the box's config, and its secrets when readable
# (root, or the robodine group). Made by `robodine install`.
: "${{ROBODINE_CONFIG:={CONFIG}}}"
export ROBODINE_CONFIG
if [ -r {SECRETS} ]; then set -a; . {SECRETS}; set +a; fi
exec {VENV}/bin/robodine "$@"
"""


@dataclass
class Assets:
    units: list[Path]  # *.service and *.target
    sysctl: Path
    redis: Path
    mosquitto: Path
    acl: Path
    example: Path
    docs: Path
    checkout: Path | None  # the repository, when running from one


def assets() -> Assets:
    pkg = Path(config_package.__file__).parent
    repo = pkg.parent
    checkout = repo if (repo / "setup.cfg").is_file() and (repo / "systemd").is_dir() else None
    share = repo if checkout else Path(sys.prefix) / "share" / "robodine"
    units_dir = share / "systemd"
    if not units_dir.is_dir():
        raise InstallError(f"{units_dir}: missing (an incomplete install of robodine?)")
    return Assets(
        units=sorted(p for p in units_dir.iterdir() if p.suffix in (".service", ".target")),
        sysctl=units_dir / "99-robodine-sysctl.conf",
        redis=pkg / "redis-robodine.conf",
        mosquitto=pkg / "mosquitto-robodine.conf",
        acl=pkg / "mosquitto-acl.example",
        example=pkg / "example.toml",
        docs=share / "docs",
        checkout=checkout,
    )


def check_system(ctx: Context) -> None:
    """Debian 12 or 13, and root on a real box: else say so before anything changes."""
    fields = {}
    if OS_RELEASE.is_file():
        for line in OS_RELEASE.read_text().splitlines():
            key, _, value = line.partition("=")
            fields[key] = value.strip().strip('"')
    debian = fields.get("ID") == "debian" or "debian" in fields.get("ID_LIKE", "").split()
    if not debian:
        raise InstallError(
            f"this is not Debian ({fields.get('PRETTY_NAME') or 'no /etc/os-release'}): "
            f"robodine install supports Debian {' and '.join(SUPPORTED)}; nothing changed"
        )
    if fields.get("ID") == "debian" and fields.get("VERSION_ID") not in SUPPORTED:
        ctx.say(f"  note       Debian {fields.get('VERSION_ID')} is not one of {SUPPORTED}")
    if ctx.real and not ctx.root:
        raise InstallError("run it as root (sudo robodine install); nothing changed")


# ---- install --------------------------------------------------------------------


def install(
    ctx: Context, *, wheel: Path | None, python: str, no_deps: bool, find_links: Path | None
) -> None:
    a = assets()
    check_system(ctx)
    u = ctx.user
    _packages(ctx)
    _user(ctx)
    ensure_dir(ctx, OPT, 0o755)
    _venv(ctx, a, wheel, python, no_deps, find_links)
    ensure_tree(ctx, f"{OPT}/docs", a.docs)
    ensure_file(ctx, WRAPPER, WRAPPER_TEXT.encode(), 0o755, note="robodine with the box's config")
    ensure_dir(ctx, ETC, 0o750, "root", u)
    rendered = _config_text(a.example)
    ensure_file(
        ctx,
        CONFIG,
        rendered.encode(),
        0o640,
        "root",
        u,
        keep=True,
        note="from config/example.toml, fresh robot keys; kept if present",
    )
    ensure_file(
        ctx,
        SECRETS,
        _secrets,
        0o640,
        "root",
        u,
        keep=True,
        note="token secret and data key, made once",
    )
    ensure_dir(ctx, STATE, 0o750, u, u)
    _tls(ctx, rendered)
    units = [ensure_file(ctx, f"{UNITS}/{p.name}", p.read_bytes(), 0o644) for p in a.units]
    sysctl = ensure_file(ctx, SYSCTL, a.sysctl.read_bytes(), 0o644)
    redis = [
        ensure_file(ctx, REDIS_SNIPPET, a.redis.read_bytes(), 0o640, "root", "redis"),
        ensure_line(ctx, REDIS_MAIN, REDIS_INCLUDE),
    ]
    mosquitto = [
        ensure_file(ctx, MOSQUITTO_SNIPPET, a.mosquitto.read_bytes(), 0o644),
        ensure_file(
            ctx,
            MOSQUITTO_ACL,
            a.acl.read_bytes(),
            0o640,
            "root",
            "mosquitto",
            keep=True,
            note="the ACL example; kept if present",
        ),
        ensure_file(
            ctx,
            MOSQUITTO_PASSWD,
            b"",
            0o640,
            "root",
            "mosquitto",
            keep=True,
            note="empty: mosquitto_passwd adds logins",
        ),
    ]
    if CHANGED in units:
        run(ctx, ["systemctl", "daemon-reload"], "systemctl daemon-reload")
    if sysctl == CHANGED:
        run(ctx, ["sysctl", "--system"], "sysctl --system")
    if CHANGED in redis:
        run(
            ctx,
            ["systemctl", "restart", "redis-server"],
            "systemctl restart redis-server",
            check=False,
        )
    if CHANGED in mosquitto:
        run(ctx, ["systemctl", "restart", "mosquitto"], "systemctl restart mosquitto", check=False)


def _packages(ctx: Context) -> None:
    missing = [pkg for binary, pkg in PACKAGES.items() if shutil.which(binary) is None]
    if not ctx.real:
        ctx.report(SKIPPED, "Debian packages (not in a --prefix tree)")
    elif not missing:
        ctx.report(UNCHANGED, f"Debian packages {', '.join(PACKAGES.values())}")
    else:
        argv = ["apt-get", "install", "-y", "-q", *missing]
        run(ctx, argv, f"apt-get install {' '.join(missing)}")


def _user(ctx: Context) -> None:
    import pwd

    try:
        pwd.getpwnam(ctx.user)
    except KeyError:
        run(
            ctx,
            [
                "useradd",
                "--system",
                "--user-group",
                "--home-dir",
                STATE,
                "--no-create-home",
                "--shell",
                "/usr/sbin/nologin",
                ctx.user,
            ],
            f"system user {ctx.user} (useradd --system)",
        )
        return
    ctx.report(UNCHANGED, f"system user {ctx.user}")


def wheel_digest(wheel: Path) -> str:
    """The wheel's files, not its zip (rebuilt wheels differ in timestamps alone): the
    SHA-256 of its RECORD, which lists each file's own hash."""
    with zipfile.ZipFile(wheel) as z:
        record = next(n for n in z.namelist() if n.endswith(".dist-info/RECORD"))
        lines = sorted(x for x in z.read(record).decode().splitlines() if not x.startswith(record))
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


# What a checkout holds that is no source: never copied into the wheel's build tree.
NOT_SOURCE = (
    ".git",
    ".venv",
    "build",
    "dist",
    "var",
    "*.egg-info",
    "__pycache__",
    "test-artifacts",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    ".hypothesis",
)


def build_wheel(checkout: Path, out: Path) -> Path:
    """``pip wheel`` of a copy of the sources: setuptools builds in the tree it is given,
    and a checkout's leftover build/ would put files deleted since into the wheel."""
    src = out / "src"
    shutil.copytree(checkout, src, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    done = execute(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(src)]
    )
    if done.returncode != 0:
        raise InstallError(f"building the wheel failed: {done.stderr.strip()[-500:]}")
    return next(out.glob("robodine-*.whl"))


def _venv(
    ctx: Context, a: Assets, wheel: Path | None, python: str, no_deps: bool, find_links: Path | None
) -> None:
    venv = ctx.path(VENV)
    if (venv / "bin" / "python").exists():
        ctx.report(UNCHANGED, f"{VENV} (venv)")
    else:
        if not Path(python).exists():
            raise InstallError(f"{python} not found (apt-get install python3-venv)")
        if not ctx.dry_run:
            done = execute([python, "-m", "venv", str(venv)])
            if done.returncode != 0:
                raise InstallError(f"{python} -m venv {venv}: {done.stderr.strip()}")
        ctx.report(CHANGED, f"{VENV} (venv of {python})")
    with tempfile.TemporaryDirectory(prefix="robodine-wheel-") as tmp:
        if wheel is None:
            if a.checkout is None:
                raise InstallError("give the wheel to install: robodine install --wheel FILE")
            if ctx.dry_run:
                ctx.report(CHANGED, f"robodine from a wheel built of {a.checkout}")
                return
            wheel = build_wheel(a.checkout, Path(tmp))
        digest = f"{wheel.name.split('-')[1]} {wheel_digest(wheel)}"
        stamp = ctx.path(WHEEL_STAMP)
        what = f"robodine {digest.split()[0]} into {VENV} ({wheel.name})"
        if stamp.is_file() and stamp.read_text().strip() == digest:
            ctx.report(UNCHANGED, what)
            return
        if not ctx.dry_run:
            pip = [
                str(venv / "bin" / "python"),
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
            ]
            if find_links is not None:
                pip += ["--no-index", "--find-links", str(find_links)]
            # The wheel itself every time it differs (a rebuild keeps its version), then
            # what it needs, unless the dependencies come some other way (--no-deps).
            steps = [[*pip, "--no-deps", "--force-reinstall", str(wheel)]]
            if not no_deps:
                steps.append([*pip, str(wheel)])
            for argv in steps:
                done = execute(argv)
                if done.returncode != 0:
                    raise InstallError(f"pip install {wheel.name}: {done.stderr.strip()[-800:]}")
            stamp.write_text(digest + "\n")
        ctx.report(CHANGED, what)


def _secrets() -> bytes:
    return (
        f"ROBODINE_WEB_SECRET={secrets.token_hex(32)}\nROBODINE_DATA_KEY={secrets.token_hex(32)}\n"
    ).encode()


# The first config of a box: the example, for this box's paths, reachable from the
# LAN over HTTPS, each robot with a key of its own (the example's are public).
CONFIG_EDITS = {
    ("web", "host"): '"0.0.0.0"',
    ("web", "tls_cert"): f'"{CERT}"',
    ("web", "tls_key"): f'"{KEY}"',
    ("spool", "path"): f'"{STATE}/spool.sqlite3"',
    ("database", "url"): f'"sqlite+aiosqlite:///{STATE}/robodine.sqlite3"',
    ("media", "url"): f'"{STATE}/media"',
}


def _config_text(example: Path) -> str:
    text = example.read_text()
    header = (
        "# Made by `robodine install` from config/example.toml: this box's paths, the web\n"
        "# tier on every interface over HTTPS, and each robot's key generated here. It is\n"
        "# kept as it is by later installs; edit it (the robots above all), then\n"
        "# systemctl restart robodine.target.\n\n"
    )
    for (section, key), value in CONFIG_EDITS.items():
        text = set_key(text, section, key, value)
    text = re.sub(r'(?m)^key = "[0-9a-fA-F]+"', lambda _: f'key = "{secrets.token_hex(32)}"', text)
    tomllib.loads(text)  # a bad edit stops here, not at the daemon's start
    return header + text


def set_key(text: str, section: str, key: str, value: str) -> str:
    """``key = value`` in ``[section]`` of a TOML text, uncommented, its comment kept."""
    lines = text.splitlines(keepends=True)
    inside = False
    pattern = re.compile(rf'^(#\s?)?{re.escape(key)}\s*=\s*("[^"]*"|\S+)(\s*#.*)?$')
    for i, line in enumerate(lines):
        if line.startswith("["):
            inside = line.strip() == f"[{section}]"
            continue
        m = pattern.match(line.rstrip("\n"))
        if inside and m:
            comment = m.group(3) or ""
            lines[i] = f"{key} = {value}{comment}\n"
            return "".join(lines)
    raise InstallError(f"config/example.toml has no {section}.{key} line to set")


def _tls(ctx: Context, rendered: str) -> None:
    """The certificate the config names at the installer's paths, made once."""
    config = ctx.path(CONFIG)
    text = config.read_text() if config.is_file() else rendered
    web = tomllib.loads(text).get("web", {})
    if "tls_cert" not in web:
        ctx.report(SKIPPED, f"HTTPS: {CONFIG} sets no web.tls_cert (docs/operations.md, HTTPS)")
        return
    if web.get("tls_cert") != CERT or web.get("tls_key") != KEY:
        ctx.report(UNCHANGED, f"HTTPS: the certificate {web['tls_cert']} the config names")
        return
    ensure_dir(ctx, TLS, 0o750, "root", ctx.user)
    if ctx.path(CERT).is_file() and ctx.path(KEY).is_file():
        for path, mode, group in (
            (CA_CERT, 0o644, "root"),
            (CERT, 0o644, "root"),
            (KEY, 0o640, ctx.user),
            (CA_KEY, 0o600, "root"),
        ):
            if ctx.path(path).is_file():
                ensure_file(ctx, path, b"", mode, "root", group, keep=True)
        return
    names = [*host_names(), "localhost"]
    ips = [*addresses(), "127.0.0.1", "::1"]
    ca_cert, ca_key = ctx.path(CA_CERT), ctx.path(CA_KEY)
    ca = (ca_cert.read_bytes(), ca_key.read_bytes()) if ca_key.is_file() else None
    pem = tls.make(names, ips, ca=ca)
    ensure_file(ctx, CA_CERT, pem.ca_cert, 0o644, keep=True, note="trust this on the tablets")
    ensure_file(ctx, CA_KEY, pem.ca_key, 0o600, keep=True, note="signs server certificates")
    ensure_file(ctx, CERT, pem.cert, 0o644, note=f"for {', '.join(names + ips)}")
    ensure_file(ctx, KEY, pem.key, 0o640, "root", ctx.user)


# ---- uninstall ----------------------------------------------------------------------


def uninstall(ctx: Context, *, purge: bool) -> None:
    a = assets()
    check_system(ctx)
    names = [p.name for p in a.units]
    if ctx.real and any(ctx.path(f"{UNITS}/{n}").exists() for n in names):
        run(
            ctx,
            ["systemctl", "disable", "--now", *names],
            "systemctl disable --now " + " ".join(names),
            check=False,
        )
    removed = [remove(ctx, f"{UNITS}/{n}") for n in names]
    if CHANGED in removed:
        run(ctx, ["systemctl", "daemon-reload"], "systemctl daemon-reload")
    for path in (OPT, WRAPPER, SYSCTL, REDIS_SNIPPET, MOSQUITTO_SNIPPET):
        remove(ctx, path)
    drop_line(ctx, REDIS_MAIN, REDIS_INCLUDE)
    data = (ETC, STATE, MOSQUITTO_ACL, MOSQUITTO_PASSWD)
    if not purge:
        for path in data:
            if ctx.path(path).exists():
                ctx.report("kept", f"{path} (data: --purge removes it)")
        return
    for path in data:
        remove(ctx, path)
    import pwd

    try:
        pwd.getpwnam(ctx.user)
    except KeyError:
        return
    run(ctx, ["userdel", ctx.user], f"system user {ctx.user} removed (userdel)", check=False)
