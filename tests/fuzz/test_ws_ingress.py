"""The web tier's WebSocket ingress (web/feeds/socket.py: what a client may send on a topic
feed) fed good frames, mutants of them and noise over a real socket: each frame gets the
answer docs/api.md §5 gives it (pong, auth_ok, or an error; five bad ones in a row close
with 1008, a binary one with 1003), the server never fails, and every refusal is counted in
``robodine_web_frames_rejected_total``."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import orjson
import pytest
from aiohttp import ClientWebSocketResponse, WSMsgType, WSServerHandshakeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.budget import INPUTS, LONG, SHORT
from tests.fuzz.mutate import JSON, mutated_json
from tests.support.web import WebEnv, recv
from web.keys import METRICS

pytestmark = pytest.mark.integration

GOOD = [{"type": "ping"}, {"type": "auth", "token": "<admin>"}]
SEEDS = st.sampled_from(
    [
        *GOOD,
        {"type": "auth", "token": "<viewer>"},
        {"type": "auth", "token": "x.y.z"},
        {"type": "subscribe"},
    ]
)
FRAME = st.one_of(
    SEEDS.map(lambda d: ("text", json.dumps(d))),
    mutated_json(SEEDS).map(lambda b: ("text", b.decode("utf-8", "replace"))),
    JSON.map(lambda d: ("text", json.dumps(d))),
    st.text(max_size=80).map(lambda t: ("text", t)),
    st.binary(min_size=1, max_size=16).map(lambda b: ("binary", b)),
)
FRAMES = st.lists(FRAME, min_size=1, max_size=12)
_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]


def expected(text: str) -> str:
    """What the server answers a text frame with, by docs/api.md §5."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        return "error"
    if not isinstance(data, dict):
        return "error"
    if data == {"type": "ping"}:
        return "pong"
    if (
        data.get("type") == "auth"
        and set(data) == {"type", "token"}
        and (data["token"] == "<admin>")
    ):
        return "auth_ok"
    return "error"


def rejected(env: WebEnv) -> float:
    metric = env.app[METRICS].registry
    total: float = sum(
        s.value
        for m in metric.collect()
        if m.name == "robodine_web_frames_rejected"
        for s in m.samples
        if s.name.endswith("_total")
    )
    return total


class Client:
    def __init__(self, env: WebEnv) -> None:
        self.env = env
        self.ws: ClientWebSocketResponse | None = None
        self.bad = 0
        self.disturbed = 0  # frames whose answer a 1013 close (Redis unavailable) took

    async def socket(self) -> ClientWebSocketResponse:
        if self.ws is None or self.ws.closed:
            for _ in range(60):  # a 503 is Redis not answering in time (a busy box): retry
                try:
                    self.ws = await self.env.ws("/ws/events")
                    break
                except WSServerHandshakeError as exc:
                    if exc.status != 503:
                        raise
                    await asyncio.sleep(0.5)
            assert self.ws is not None and not self.ws.closed
            assert (await recv(self.ws))["type"] == "hello"
            assert (await recv(self.ws))["type"] == "snapshot"
            self.bad = 0
        return self.ws

    async def closes_with(self, code: int) -> None:
        assert self.ws is not None
        msg = await self.ws.receive(timeout=5)
        assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED), msg
        assert self.ws.close_code == code
        await self.ws.close()
        self.ws = None

    async def send(self, kind: str, payload: Any) -> None:
        ws = await self.socket()
        if kind == "binary":
            await ws.send_bytes(payload)
            await self.closes_with(1003)
            return
        token = self.env.tokens
        text = payload.replace('"<admin>"', json.dumps(token["admin"])).replace(
            '"<viewer>"', json.dumps(token["viewer"])
        )
        await ws.send_str(text)
        want = expected(payload)
        msg = await ws.receive(timeout=5)
        if msg.type is WSMsgType.CLOSE and msg.data == 1013:  # Redis slow on a busy box:
            self.disturbed += 1  # the documented close; whether this frame was seen is unknown
            await ws.close()
            self.ws = None
            return
        assert msg.type is WSMsgType.TEXT, (payload, msg)
        got = orjson.loads(msg.data)
        assert got["type"] == want, (payload, got)
        if want != "error":
            self.bad = 0
            return
        self.bad += 1
        if self.bad == 5:
            await self.closes_with(1008)


async def _fuzz(env: WebEnv, frames: list[tuple[str, Any]]) -> None:
    stash: Any = env  # keeps the client across hypothesis examples (no WebEnv attribute)
    client = getattr(stash, "_fuzz_client", None) or Client(env)
    stash._fuzz_client = client
    before, disturbed = rejected(env), client.disturbed
    errors = 0
    for kind, payload in frames:
        errors += kind == "binary" or expected(payload) == "error"
        await client.send(kind, payload)
    if client.disturbed == disturbed:
        assert rejected(env) - before == errors
    else:  # a frame may have gone unread when the socket closed under it
        assert errors - (client.disturbed - disturbed) <= rejected(env) - before <= errors
    INPUTS["websocket frames"] += len(frames)


@settings(max_examples=SHORT // 2, suppress_health_check=_QUIET)
@given(frames=FRAMES)
async def test_websocket_frames(env: WebEnv, frames: list[tuple[str, Any]]) -> None:
    await _fuzz(env, frames)


@pytest.mark.long
@pytest.mark.timeout(3600)
@settings(max_examples=-(-LONG // 5), suppress_health_check=_QUIET)
@given(frames=FRAMES)
async def test_websocket_frames_long(env: WebEnv, frames: list[tuple[str, Any]]) -> None:
    await _fuzz(env, frames)
