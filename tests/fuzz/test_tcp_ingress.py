"""The gateway's TCP ingress (gateway/transports/tcp.py: the handshake, then frames to the
fleet) fed noise and mutated messages, in any split: nothing raises, and every refusal the
robot is told of is counted (connections{refused_*}, frames_rejected{code},
transitions_refused)."""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import strategies as st

from gateway.metrics import Stats
from gateway.transports.tcp import TcpServer, _RobotConnection
from protocol.envelope import encode
from protocol.framing import encode_frame
from protocol.messages import Challenge, Error, GatewayMessage, Welcome
from protocol.tcp import NEED_DATA, RobotConnection
from protocol.vocabulary import ErrorCode, RobotKind
from tests.fuzz.budget import INPUTS, short_and_long
from tests.fuzz.mutate import NOISE, mutated_json, spray
from tests.gateway.fleet_harness import FleetHarness
from tests.robot import KEYS
from tests.support.gateway import gateway_settings
from tests.support.protocol import robot_messages

ROBOT = "serve-1"


class Wire(asyncio.Transport):
    """What the gateway writes to one connection, in memory."""

    def __init__(self) -> None:
        super().__init__()
        self.out = bytearray()
        self.closing = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 40000) if name == "peername" else default


class Ingress:
    def __init__(self, tmp: Path) -> None:
        settings = gateway_settings(
            "redis://127.0.0.1:1/0",
            tmp,
            tcp={"rate_per_s": 10**9, "burst": 10**9, "max_frame_bytes": 4096},
        )
        self.harness = FleetHarness(settings, tmp)
        self.stats: Stats = self.harness.stats
        self.server = TcpServer(
            self.harness.fleet, settings.tcp, settings.gateway, self.stats, None
        )
        self.loop = asyncio.new_event_loop()

    def connect(self) -> tuple[_RobotConnection, Wire, RobotConnection]:
        proto, wire = _RobotConnection(self.server), Wire()
        proto.connection_made(wire)
        robot = RobotConnection(
            ROBOT, RobotKind.SERVING, bytes.fromhex(KEYS[ROBOT]), secrets.token_hex(16)
        )
        return proto, wire, robot

    def run(self, body: Callable[[], None]) -> None:
        """One input, on a loop of its own (connections start timers), buffers dropped after."""

        async def go() -> None:
            body()

        self.loop.run_until_complete(go())
        self.harness.writer._events.clear()
        self.harness.writer._telemetry.clear()


@pytest.fixture(scope="module")
def ingress(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingress]:
    ing = Ingress(tmp_path_factory.mktemp("tcp-fuzz"))
    yield ing
    ing.loop.close()


def received(robot: RobotConnection, wire: Wire) -> list[GatewayMessage]:
    robot.receive_data(bytes(wire.out))
    wire.out.clear()
    out: list[GatewayMessage] = []
    while (msg := robot.next_event()) is not NEED_DATA:
        out.append(msg)
    return out


def feed(proto: _RobotConnection, data: bytes, cuts: list[int]) -> None:
    """``data`` in pieces cut at ``cuts``, as the kernel may hand it over."""
    start = 0
    for cut in [*sorted(c % (len(data) + 1) for c in cuts), len(data)]:
        if cut > start:
            proto.data_received(data[start:cut])
            start = cut


def counted(stats: Stats, name: str) -> Counter[str]:
    return Counter({label: v for (n, label), v in stats.counts.items() if n == name})


# ---- before the hello ----------------------------------------------------------------------


def _hello_doc() -> dict[str, Any]:
    robot = RobotConnection(ROBOT, RobotKind.SERVING, bytes.fromhex(KEYS[ROBOT]), "ab" * 16)
    frame = robot.hello(Challenge(nonce="cd" * 16), time.time())
    doc: dict[str, Any] = json.loads(frame[4:])
    return doc


HELLOS = st.one_of(NOISE, mutated_json(st.just(_hello_doc())))
CONNECTIONS = 8  # per example: each a fresh connection fed one mutant


def _before_hello(ingress: Ingress, seed: bytes, framed: bool, rnd: Any) -> None:
    def one(data: bytes) -> None:
        before = counted(ingress.stats, "connections")
        proto, wire, robot = ingress.connect()
        [challenge] = received(robot, wire)
        assert isinstance(challenge, Challenge)
        feed(proto, data, [rnd.randrange(len(data) + 1) for _ in range(rnd.randrange(3))])
        proto.eof_received()
        told = received(robot, wire)
        closed = proto.link.closed
        proto.connection_lost(None)
        delta = counted(ingress.stats, "connections") - before
        refused = {k: v for k, v in delta.items() if k.startswith("refused_")}
        if closed:  # refused: told why, and counted under that reason
            [error] = told
            assert isinstance(error, Error), told
            assert refused == {f"refused_{error.code}": 1}, (delta, error)
        else:  # nothing complete arrived: nothing to refuse
            assert told == [] and delta == Counter(), (told, delta)

    mutants = [seed, *spray(rnd, seed, CONNECTIONS - 1)]
    INPUTS["tcp handshakes"] += len(mutants)

    def every_mutant() -> None:
        for m in mutants:
            one(encode_frame(m or b" ", 1 << 30) if framed else m)

    ingress.run(every_mutant)


test_tcp_handshake, test_tcp_handshake_long = short_and_long(
    CONNECTIONS, seed=HELLOS, framed=st.booleans(), rnd=st.randoms(use_true_random=True)
)(_before_hello)


# ---- after the hello -----------------------------------------------------------------------


def _own(msg: msgspec.Struct, own: bool) -> msgspec.Struct:
    return msgspec.structs.replace(msg, robot=ROBOT) if own else msg


MESSAGES = st.builds(_own, robot_messages, st.booleans()).map(lambda m: json.loads(encode(m)))
BODIES = st.lists(st.one_of(mutated_json(MESSAGES), NOISE.filter(bool)), min_size=1, max_size=4)
ROUNDS = 10  # per example: each a fresh connection fed mutants of the bodies


def _after_hello(ingress: Ingress, bodies: list[bytes], rnd: Any) -> None:
    def one(frames: list[bytes]) -> None:
        proto, wire, robot = ingress.connect()
        [challenge] = received(robot, wire)
        assert isinstance(challenge, Challenge)
        proto.data_received(robot.hello(challenge, time.time()))
        [welcome] = received(robot, wire)
        assert isinstance(welcome, Welcome)
        rejected = counted(ingress.stats, "frames_rejected")
        refused = ingress.stats.total("transitions_refused")
        data = b"".join(encode_frame(f, 1 << 30) if f and rnd.random() < 0.9 else f for f in frames)
        feed(proto, data, [rnd.randrange(len(data) + 1) for _ in range(rnd.randrange(3))])
        told = [m for m in received(robot, wire) if isinstance(m, Error)]
        closed = proto.link.closed
        proto.connection_lost(None)
        codes = Counter(str(e.code) for e in told if e.code is not ErrorCode.ILLEGAL_TRANSITION)
        assert counted(ingress.stats, "frames_rejected") - rejected == codes, told
        illegal = sum(e.code is ErrorCode.ILLEGAL_TRANSITION for e in told)
        assert ingress.stats.total("transitions_refused") - refused == illegal
        strikes = sum(codes.values())
        max_strikes = ingress.server.settings.max_strikes
        closed_by_us = strikes >= max_strikes or any(
            e.code in (ErrorCode.AUTH_FAILED, ErrorCode.UNEXPECTED) for e in told
        )
        assert closed == closed_by_us, (strikes, told)

    rounds = [bodies] + [[m for b in bodies for m in spray(rnd, b, 1)] for _ in range(ROUNDS - 1)]
    INPUTS["tcp frames"] += sum(map(len, rounds))

    def every_round() -> None:
        for r in rounds:
            one(r)

    ingress.run(every_round)


test_tcp_frames, test_tcp_frames_long = short_and_long(
    ROUNDS, bodies=BODIES, rnd=st.randoms(use_true_random=True)
)(_after_hello)


@pytest.mark.parametrize("value", [b"99999999999999999999999", b"[" * 300 + b"]" * 300])
def test_an_event_the_streams_cannot_hold_is_refused_and_counted(
    ingress: Ingress, value: bytes
) -> None:
    """Found by the fuzzing above: it raised out of data_received (no error, no count,
    the connection dropped with a traceback)."""

    def one() -> None:
        proto, wire, robot = ingress.connect()
        [challenge] = received(robot, wire)
        assert isinstance(challenge, Challenge)
        proto.data_received(robot.hello(challenge, time.time()))
        received(robot, wire)
        before = ingress.stats.get("frames_rejected", "bad_message")
        body = b'{"type":"event","robot":"serve-1","name":"x","data":{"n":%s}}' % value
        proto.data_received(encode_frame(body, 1 << 30))
        [error] = received(robot, wire)
        assert isinstance(error, Error) and error.code is ErrorCode.BAD_MESSAGE
        assert ingress.stats.get("frames_rejected", "bad_message") == before + 1
        assert not proto.link.closed
        proto.connection_lost(None)

    ingress.run(one)
