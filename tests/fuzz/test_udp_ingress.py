"""The gateway's UDP ingress (``Fleet.datagram_run``, a socket read's worth of datagrams at a
time) fed signed telemetry, mutants of it (some signed again with the robot's key, so they
reach the body's decoder) and noise, through the production log pipeline: nothing raises,
and every datagram is either applied or counted (udp_dropped{reason}, rate_limited)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from hypothesis import strategies as st

from config.logging import configure_logging
from protocol.auth import sign
from protocol.messages import Telemetry
from protocol.udp import encode_datagram
from tests.fuzz.budget import INPUTS, short_and_long
from tests.fuzz.mutate import NOISE, spray
from tests.gateway.fleet_harness import NOW, FleetHarness
from tests.robot import KEYS
from tests.support.gateway import gateway_settings

ROBOTS = sorted(KEYS)
SIG = 32  # bytes of signature at the end of a datagram
_clock = itertools.count(1)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FleetHarness]:
    tmp = tmp_path_factory.mktemp("udp-fuzz")
    configure_logging("info", "json", cache=False)  # what a refused key looks like for real
    try:
        yield FleetHarness(
            gateway_settings(
                "redis://127.0.0.1:1/0",
                tmp,
                udp={"host": "127.0.0.1", "port": 0},
                gateway={"telemetry_rate_per_s": 10**6, "telemetry_burst": 10**6},
            ),
            tmp,
        )
    finally:
        structlog.reset_defaults()


def good(robot: str, seq: Any, **fields: Any) -> bytes:
    msg = Telemetry(robot=robot, seq=next(seq), ts=NOW, x=1.5, y=2.5, battery=50.0, **fields)
    return encode_datagram(msg, bytes.fromhex(KEYS[robot]))


def resigned(robot: str, body_mutant: bytes) -> bytes:
    """A mutant body behind a valid header and signature: the decoder's turn."""
    head = b"RD\x01" + bytes((len(robot),)) + robot.encode()
    return head + body_mutant + sign(bytes.fromhex(KEYS[robot]), head + body_mutant)


DATAGRAMS = 24  # per example


def _run(gateway: FleetHarness, robots: list[str], noise: bytes, rnd: Any) -> None:
    run: list[bytes] = []
    seq = itertools.count(1)
    for robot in ROBOTS:
        gateway.fleet.datagrams.reset(robot)  # each example starts the robots' seqs again
    for robot in robots:
        valid = good(robot, seq)
        head = 4 + len(robot)
        run += [valid, *spray(rnd, valid, 2)]  # mostly bad signatures
        run += [resigned(robot, m) for m in spray(rnd, valid[head:-SIG], 2)]
    run += spray(rnd, noise, 1) if noise else []
    rnd.shuffle(run)
    # and one good one last, its seq the highest there is: never lost to the others
    run = [*run[:DATAGRAMS], good(robots[0], itertools.count(2**63 - 1))]
    stats = gateway.stats
    before = (
        stats.get("telemetry_received", "udp"),
        stats.total("udp_dropped"),
        stats.get("telemetry_dropped", "rate_limited"),
    )
    gateway.fleet.datagram_run(run, NOW + next(_clock) * 11)  # each run logs its drops
    after = (
        stats.get("telemetry_received", "udp"),
        stats.total("udp_dropped"),
        stats.get("telemetry_dropped", "rate_limited"),
    )
    accepted, dropped, limited = (a - b for a, b in zip(after, before, strict=True))
    assert accepted + dropped + limited == len(run), (accepted, dropped, limited, len(run))
    assert accepted >= 1  # the last, good one
    assert gateway.writer._latest[robots[0]]  # ... is the robot's newest sample
    INPUTS["udp datagrams"] += len(run)
    gateway.writer._telemetry.clear()
    gateway.writer._events.clear()


test_udp_datagrams, test_udp_datagrams_long = short_and_long(
    15,
    robots=st.lists(st.sampled_from(ROBOTS), min_size=1, max_size=5),
    noise=NOISE,
    rnd=st.randoms(use_true_random=True),
)(_run)
