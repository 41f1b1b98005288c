"""Settings: defaults < TOML < environment, and one clear line per problem."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from config import ConfigError, Settings, load_settings, network

EXAMPLE = Path(__file__).parent.parent / "config" / "example.toml"


def test_defaults_toml_and_env_in_that_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert load_settings().tcp.port == 7700
    f = tmp_path / "c.toml"
    f.write_text("[tcp]\nport = 7800\nmax_frame_bytes = 2048\n")
    assert load_settings(f).tcp.port == 7800
    monkeypatch.setenv("ROBODINE_TCP_PORT", "7900")
    monkeypatch.setenv("ROBODINE_REDIS_URL", "redis://10.0.0.5:6380/1")
    s = load_settings(f)
    assert (s.tcp.port, s.tcp.max_frame_bytes, s.redis.url) == (
        7900,
        2048,
        "redis://10.0.0.5:6380/1",
    )
    monkeypatch.setenv("ROBODINE_CONFIG", str(f))
    assert load_settings().tcp.max_frame_bytes == 2048


def test_every_problem_is_reported_on_its_own_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = tmp_path / "bad.toml"
    f.write_text(
        "[tcp]\nport = 70000\nprot = 1\n[gateway]\nstale_after_s = 0.5\n"
        '[redis]\nurl = "http://x"\n'
        '[[robots]]\nid = "r1"\nkind = "serving"\nkey = "zz"\n'
        '[[robots]]\nid = "r1"\nkind = "flying"\n'
    )
    monkeypatch.setenv("ROBODINE_UDP_PORT", "abc")
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    lines = err.value.problems
    expected = {
        "robots.1.id": "duplicate",
        "tcp.port": "65535",
        "tcp.prot": "unknown key",
        "gateway": "heartbeat_s < stale_after_s",
        "redis.url": "redis://",
        "udp.port": "integer",
        "robots.0.key": "hexadecimal",
        "robots.1.kind": "'serving' or 'cooking'",
        "robots.1.key": "missing",
    }
    for key, fragment in expected.items():
        assert any(line.startswith(key + ":") and fragment in line for line in lines), (key, lines)
    assert any("ROBODINE_UDP_PORT" in line for line in lines)
    assert len(lines) == len(expected)


def test_a_misspelled_environment_variable_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBODINE_REDIS_ULR", "redis://x:1/0")
    monkeypatch.setenv("ROBODINE_DATAKEY", "x")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert sorted(err.value.problems) == [
        "ROBODINE_DATAKEY: unknown setting (misspelled?)",
        "redis.ulr: unknown key (misspelled?)",
    ]


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "nope.toml")
    (tmp_path / "x.toml").write_text("[tcp\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path / "x.toml")


def test_cli_exits_2_with_one_line_per_problem(tmp_path: Path) -> None:
    f = tmp_path / "bad.toml"
    f.write_text("[tcp]\nport = -1\n[udp]\nport = 99999\n")
    out = subprocess.run(
        [sys.executable, "-m", "robodine", "--config", str(f), "gateway"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    prefix = "robodine: config: "
    assert out.stderr.splitlines() == [
        prefix + "tcp.port: Input should be greater than or equal to 0 (env ROBODINE_TCP_PORT)",
        prefix + "udp.port: Input should be less than or equal to 65535 (env ROBODINE_UDP_PORT)",
    ]


def test_robot_keys_never_appear_in_reprs() -> None:
    s = load_settings(EXAMPLE)
    key = s.robots[0].key.get_secret_value()
    assert key not in repr(s) and key not in str(s.robots)


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    out = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel) and name not in ("kitchen_pass",):
            out += _keys(ann, f"{prefix}{name}.")
        else:
            out.append(prefix + name)
    return out


def test_example_config_documents_every_key() -> None:
    text = EXAMPLE.read_text()
    sections = dict(re.findall(r"^\[(\w+)\]\n(.*?)(?=^\[|\Z)", text, re.M | re.S))
    for dotted in _keys(Settings):
        if "." not in dotted:
            continue  # robots: a list, documented below the sections
        section, key = dotted.split(".", 1)
        assert section in sections, f"[{section}] missing from example.toml"
        documented = re.search(rf"^#? ?{key} = ", sections[section], re.M) or (
            f"[[{section}.{key}]]" in text
        )
        assert documented, f"{dotted} not documented"
    assert load_settings(EXAMPLE).robots


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("http://a,http://b", ["http://a", "http://b"]),
        (" http://a , http://b ,", ["http://a", "http://b"]),
        ('["http://a", "http://b"]', ["http://a", "http://b"]),
        ("http://a", ["http://a"]),
    ],
)
def test_list_settings_from_the_environment_take_json_or_a_comma_list(
    monkeypatch: pytest.MonkeyPatch, value: str, origins: list[str]
) -> None:
    monkeypatch.setenv("ROBODINE_WEB_ORIGINS", value)
    monkeypatch.setenv("ROBODINE_UPLOADS_TYPES", "text/csv,image/png")
    s = load_settings()
    assert s.web.origins == origins
    assert s.uploads.types == ["text/csv", "image/png"]


def test_a_bad_list_from_the_environment_is_one_line_naming_the_key(tmp_path: Path) -> None:
    env = {"ROBODINE_WEB_ORIGINS": "http://a,ftp://b", "ROBODINE_FLOOR_TABLES": "t1,t2"}
    out = subprocess.run(
        [sys.executable, "-m", "robodine", "--config", str(EXAMPLE), "web"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )
    assert out.returncode == 2, out.stderr
    assert sorted(out.stderr.splitlines()) == [
        "robodine: config: floor.tables: Input should be a valid list (env ROBODINE_FLOOR_TABLES)",
        "robodine: config: web.origins: 'ftp://b': an origin is scheme://host[:port], "
        "no wildcard, no path (env ROBODINE_WEB_ORIGINS)",
    ]


def test_origins_default_to_the_web_tiers_own_address(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROBODINE_WEB_PORT", "8090")
    assert load_settings().web.origins == ["http://127.0.0.1:8090", "http://localhost:8090"]
    monkeypatch.setenv("ROBODINE_WEB_HOST", "0.0.0.0")
    monkeypatch.setenv("ROBODINE_WEB_PUBLIC_URL", "https://robodine.example/")
    origins = load_settings().web.origins
    assert origins[:2] == ["http://127.0.0.1:8090", "http://localhost:8090"]
    assert origins[-1] == "https://robodine.example"
    host = socket.gethostname().split(".")[0]
    assert f"http://{host}:8090" in origins and f"http://{host}.local:8090" in origins
    for address in network.addresses():
        assert network.origin("http", address, 8090) in origins
    monkeypatch.setenv("ROBODINE_WEB_ORIGINS", "http://only")  # set: taken as it is
    assert load_settings().web.origins == ["http://only"]


def test_tls_cert_and_key_go_together(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[web]\ntls_cert = "/etc/robodine/tls/robodine.crt"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(f)
    assert err.value.problems == ["web: tls_cert and tls_key go together: set both or neither"]
