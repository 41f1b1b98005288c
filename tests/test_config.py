"""Settings: defaults < TOML < environment, and one clear line per problem."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import BaseModel

from config import ConfigError, Settings, load_settings

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
