"""The key namespace: one module names every key, ``redis.key_prefix`` moves them all,
the hash-tag prefix puts them in one slot, and a restore brings an ``rd`` archive into a
``{rd}`` box (docs/scaling.md, Redis Cluster)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import redis.asyncio as aioredis
from pydantic import ValidationError

from config.settings import RedisSettings
from gateway.streams.commands import CommandReader
from protocol import cluster, streams
from robodine.redisio import keys
from robodine.redisio.client import connect
from robodine.redisio.keys import DEFAULT, KEYS, Keys
from tests.servers import RedisServer
from web.backup import redis_dump

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("gateway", "web", "robodine", "simulator", "protocol", "config")
KEY_LIKE = re.compile(r"(rd|\{rd\}):[\w:.{}-]*")  # a key's name or its start, not prose
# "rd:" strings in product code that are not key names: a metric's label and a consumer
# group's name (made and destroyed at once by a restore).
NOT_KEYS = {
    ("gateway/cameras/writer.py", "rd:camera"),
    ("web/backup/redis_dump.py", "rd:restore"),
}


@pytest.fixture
def namespace() -> Iterator[None]:
    """The process's namespace back to ``rd`` after the test."""
    try:
        yield
    finally:
        keys.configure("rd")


def _literals(path: Path) -> Iterator[str]:
    """Every string constant of a module, docstrings left out."""
    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
            yield node.value


def test_no_product_module_names_a_key_but_the_keys_module() -> None:
    found = []
    for top in PRODUCT:
        for path in sorted((ROOT / top).rglob("*.py")):
            rel = str(path.relative_to(ROOT))
            if rel == "robodine/redisio/keys.py":
                continue
            for text in _literals(path):
                if KEY_LIKE.fullmatch(text) and (rel, text) not in NOT_KEYS:
                    found.append(f"{rel}: {text!r}")
    assert not found, "name keys through robodine.redisio.keys.KEYS"


DEFAULT_NAMES = {
    "TELEMETRY", "EVENTS", "COMMANDS", "ROBOTS_INDEX", "REGISTRY", "DISPATCH", "CAMERAS",
    "ROBOT_PREFIX", "CHAT_PREFIX", "CAMERA_PREFIX", "RECORD_PREFIX", "robot_key",
    "chat_stream", "camera_stream", "record_key", "LEASE_PREFIX", "GATEWAY_PREFIX",
    "GATEWAYS", "LEADER", "LEADER_EPOCH", "FENCES", "INBOX_PREFIX", "lease_key", "want_key",
    "gateway_key", "inbox",
}  # fmt: skip


def _default_names(path: Path) -> Iterator[str]:
    """Uses of protocol's fixed ``rd`` names (``streams.EVENTS``, an imported ``LEADER``)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module in (
            "protocol.streams",
            "protocol.cluster",
        ):
            yield from (a.name for a in node.names if a.name in DEFAULT_NAMES)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("streams", "cluster")
            and node.attr in DEFAULT_NAMES
        ):
            yield f"{node.value.id}.{node.attr}"


def test_product_code_names_keys_under_the_configured_prefix_only() -> None:
    """protocol's names are the default namespace's, for tools and tests: running code
    that used them would miss ``redis.key_prefix``."""
    found = [
        f"{path.relative_to(ROOT)}: {name}"
        for top in ("gateway", "web", "robodine", "simulator", "bench")
        for path in sorted((ROOT / top).rglob("*.py"))
        for name in _default_names(path)
    ]
    assert not found, "use robodine.redisio.keys.KEYS"
    planted = ROOT / "tests" / "redisio" / "test_keys.py"
    assert "streams.EVENTS" in list(_default_names(planted))  # the check sees one


def test_the_check_sees_a_planted_key(tmp_path: Path) -> None:
    planted = tmp_path / "m.py"
    planted.write_text(
        '"""rd:events in a docstring."""\nKEY = "rd:events"\nDOC = "rd:events of x"\n'
    )
    assert [t for t in _literals(planted) if KEY_LIKE.fullmatch(t)] == ["rd:events"]


def test_every_family_moves_with_the_prefix() -> None:
    tagged = Keys("{rd}")
    assert (tagged.events, tagged.telemetry, tagged.commands) == (
        "{rd}:events",
        "{rd}:telemetry",
        "{rd}:commands",
    )
    assert tagged.robot("serve-1") == "{rd}:robot:serve-1"
    assert tagged.lease("serve-1") == "{rd}:lease:serve-1"
    assert tagged.want("serve-1") == "{rd}:lease:serve-1:want"
    assert tagged.camera("serve-1", "tray") == "{rd}:camera:serve-1:tray"
    assert tagged.idem("chef", "k1") == "{rd}:idem:chef:k1"
    assert tagged.pattern == "{rd}:*" and tagged.tag == "{rd}"
    assert tagged.short(tagged.events) == DEFAULT.short(DEFAULT.events) == "events"
    assert tagged.saq_queue("robodine") == "{rd}robodine"
    assert DEFAULT.saq_queue("robodine") == "robodine" and DEFAULT.tag == ""
    every = {v for v in vars(tagged).values() if isinstance(v, str) and v != "{rd}"}
    assert every and all(v.startswith("{rd}:") for v in every)


def test_the_default_names_are_the_documented_ones() -> None:
    assert (streams.EVENTS, streams.TELEMETRY, streams.COMMANDS) == (
        "rd:events",
        "rd:telemetry",
        "rd:commands",
    )
    assert streams.robot_key("r1") == "rd:robot:r1" and cluster.lease_key("r1") == "rd:lease:r1"
    assert (cluster.LEADER, cluster.LEADER_EPOCH, cluster.FENCES) == (
        "rd:leader",
        "rd:leader:epoch",
        "rd:fences",
    )


@pytest.mark.parametrize("bad", ["", "rd:", "{rd", "rd}", "{}", "r d", "{rd}x", "a" * 33])
def test_a_prefix_that_is_neither_a_name_nor_a_hash_tag_is_refused(bad: str) -> None:
    with pytest.raises(ValidationError, match="key_prefix"):
        RedisSettings(key_prefix=bad)


async def test_a_client_sets_the_namespace_and_the_ack_refs_follow_it(
    redis_server: RedisServer, namespace: None
) -> None:
    client = connect(RedisSettings(url=redis_server.url, key_prefix="{rd}"), name="t")
    try:
        assert KEYS.events == "{rd}:events"
        assert cluster.ack_ref("{rd}:commands", "1-0") == "1-0"  # the bare id, as ever
        assert cluster.split_ref("1-0") == ("{rd}:commands", "1-0")
        assert cluster.split_ref("{rd}:inbox:gw-a 1-0") == ("{rd}:inbox:gw-a", "1-0")
    finally:
        await client.aclose()
    assert streams.EVENTS == "rd:events"  # the default names do not move


async def test_an_archive_of_an_rd_box_restores_under_the_hash_tag(
    redis_client: aioredis.Redis, namespace: None
) -> None:
    await redis_client.xadd("rd:events", {"type": "gateway.started"}, id="5-1")
    await redis_client.xgroup_create("rd:events", "projector", "0-0")
    await redis_client.hset("rd:robot:serve-1", mapping={"x": "1.5"})
    await redis_client.sadd("rd:robots", "serve-1")
    await redis_client.set("other:key", "not ours")
    lines = [line async for line in redis_dump.dump(redis_client, redis_dump.DumpStats())]
    await redis_client.flushdb()

    keys.configure("{rd}")
    assert await redis_dump.load(redis_client, lines) == 3
    names = sorted(k.decode() for k in cast(list[bytes], await redis_client.keys("*")))
    assert names == ["{rd}:events", "{rd}:robot:serve-1", "{rd}:robots"]
    assert await redis_client.hget("{rd}:robot:serve-1", "x") == b"1.5"
    assert await redis_client.smembers("{rd}:robots") == {b"serve-1"}
    entries = await redis_client.xrange("{rd}:events")
    assert entries == [(b"5-1", {b"type": b"gateway.started"})]
    groups = await redis_client.xinfo_groups("{rd}:events")
    assert [g["name"] for g in groups] == [b"projector"]
    assert await redis_dump.occupied(redis_client) == 3


@pytest.mark.parametrize("prefix", ["rd", "{rd}"])
def test_the_command_reader_reads_the_stream_it_trims(prefix: str, namespace: None) -> None:
    """The group reader (XREADGROUP, XAUTOCLAIM) and the trim (XPENDING, XTRIM) name one
    stream: the namespace's rd:commands by default, the inbox when given one."""
    keys.configure(prefix)
    fleet = cast(Any, SimpleNamespace(writer=None))
    reader = CommandReader(cast(Any, None), fleet, RedisSettings(), consumer="gw")
    assert reader.stream == reader._group.stream == f"{prefix}:commands"
    inbox = CommandReader(
        cast(Any, None), fleet, RedisSettings(), consumer="gw", stream=KEYS.inbox("gw")
    )
    assert inbox.stream == inbox._group.stream == f"{prefix}:inbox:gw"
