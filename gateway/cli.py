"""`robodine gateway` and `robodine send`."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from typing import Any, cast

import orjson
import uvloop

from config import Settings
from gateway.app import Gateway
from protocol import streams
from protocol.streams import CommandRecord, EventType
from protocol.vocabulary import CommandAction
from robodine.lifecycle import install_signal_handlers, settle_heap
from robodine.redisio.keys import KEYS, configure
from robodine.redisio.sentinel import redis_from_url


def register(sub: Any) -> None:
    from robodine.cli import command

    command(sub, "gateway", run_gateway, "run the gateway daemon (robots <-> Redis streams)")
    p = command(sub, "send", send, "send a command to a robot and wait for its outcome")
    p.add_argument("robot", help="robot id")
    p.add_argument("action", choices=[a.value for a in CommandAction])
    p.add_argument(
        "args",
        nargs="*",
        metavar="KEY=VALUE",
        help="command arguments; values are parsed as JSON when they can be",
    )
    p.add_argument("--timeout", type=float, default=15.0, help="seconds to wait (default 15)")


def run_gateway(settings: Settings, args: argparse.Namespace) -> int:
    async def main() -> None:
        stop = asyncio.Event()
        uninstall = install_signal_handlers(asyncio.get_running_loop(), stop)
        settle_heap()  # the imports' objects: full collections stop walking them
        try:
            await Gateway(settings).run(stop.wait())
        finally:
            uninstall()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main())
    return 0


def parse_args(pairs: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"argument {pair!r} is not KEY=VALUE")
        try:
            out[key] = orjson.loads(value)
        except orjson.JSONDecodeError:
            out[key] = value
    return out


def send(settings: Settings, args: argparse.Namespace) -> int:
    try:
        cmd_args = parse_args(args.args)
    except ValueError as exc:
        print(f"robodine send: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(_send(settings, args.robot, args.action, cmd_args, args.timeout))


async def _send(
    settings: Settings, robot: str, action: str, cmd_args: dict[str, Any], timeout: float
) -> int:
    """XADD the command, then follow rd:events from just before it for its outcome."""
    configure(settings.redis.key_prefix)
    redis = redis_from_url(
        settings.redis.url,
        socket_timeout=timeout + 5,
        socket_connect_timeout=settings.redis.connect_timeout_s,
        protocol=2,
    )
    try:
        last: Any = await redis.xrevrange(KEYS.events, count=1)
        cursor: Any = last[0][0] if last else b"0-0"
        now = time.time()
        rec = CommandRecord(
            id=uuid.uuid4().hex,
            robot=robot,
            action=action,
            ts=now,
            args=cmd_args,
            expires=now + timeout,
            source="cli",
        )
        await redis.xadd(KEYS.commands, cast(Any, streams.to_fields(rec)))
        print(f"sent {action} to {robot} (command {rec.id})", file=sys.stderr)
        deadline = now + timeout
        while (left := deadline - time.time()) > 0:
            reply: Any = await redis.xread(
                {KEYS.events: cursor}, block=int(min(left, 4) * 1000) + 1
            )
            for _, entries in reply:
                for entry_id, fields in entries:
                    cursor = entry_id
                    ev = streams.decode_fields(fields)
                    if ev.get("data", {}).get("command") != rec.id:
                        continue
                    if ev["type"] == EventType.COMMAND_ACKED:
                        print(orjson.dumps({"outcome": "acked", **ev["data"]}).decode())
                        return 0
                    if ev["type"] in (EventType.COMMAND_FAILED, EventType.COMMAND_DUPLICATE):
                        print(orjson.dumps({"outcome": "failed", **ev["data"]}).decode())
                        return 1
        print(orjson.dumps({"outcome": "timeout", "command": rec.id}).decode())
        return 1
    finally:
        await redis.aclose()
