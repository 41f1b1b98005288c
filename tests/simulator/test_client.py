"""A simulated robot against the peer gateway: real sockets, the real protocol codecs."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from typing import Any

from protocol.messages import Ack, Error, Event, Heartbeat, State, Telemetry
from protocol.vocabulary import ErrorCode, RobotKind
from tests.servers import free_port
from tests.simulator.peer import PeerGateway
from tests.support.simulator import RobotFactory


async def test_handshake_then_current_state_then_heartbeats(
    peer: PeerGateway, sim_robot: RobotFactory
) -> None:
    async with sim_robot(peer) as robot:
        await peer.wait_for(lambda: len(peer.of("serve-001", Heartbeat)) >= 2)
        assert robot.connected
    hello = peer.hellos[0]
    assert (hello.robot, hello.kind) == ("serve-001", RobotKind.SERVING)
    assert hello.firmware.startswith("robodine-sim/")
    first = peer.messages[0]
    assert isinstance(first, State)
    assert (first.state, first.task) == ("idle", None)
    seqs = [m.seq for m in peer.messages]
    assert seqs == sorted(seqs)
    assert len(set(seqs)) == len(seqs)
    assert seqs[0] >= 1
    assert all(m.ts > 1.6e9 for m in peer.messages)


async def test_heartbeats_follow_the_welcome_interval(
    peer: PeerGateway, sim_robot: RobotFactory
) -> None:
    async with sim_robot(peer):
        await asyncio.sleep(1.0)
    beats = [m.ts for m in peer.of("serve-001", Heartbeat)]
    assert 3 <= len(beats) <= 6  # heartbeat_s = 0.2 over ~1 s, after a connect
    gaps = [b - a for a, b in itertools.pairwise(beats)]
    # at 50 Hz a beat is due at most one tick late; the slack is for a busy test machine
    assert all(0.15 < g < 0.4 for g in gaps), gaps


async def test_telemetry_arrives_signed_with_increasing_seq(
    peer: PeerGateway, sim_robot: RobotFactory
) -> None:
    async with sim_robot(peer, hz=50):
        await peer.wait_for(lambda: len(peer.telemetry) >= 20)
    assert peer.dropped == []  # every datagram verified and in order
    seqs = [t.seq for t in peer.telemetry]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))
    t = peer.telemetry[-1]
    assert isinstance(t, Telemetry)
    assert t.robot == "serve-001"
    assert (t.x, t.y, t.battery, t.speed) == (2.0, 6.0, t.battery, 0.0)
    assert 79.0 < t.battery <= 80.0


async def test_ping_is_answered_with_a_heartbeat_at_once(
    sim_robot: RobotFactory, keys: dict[str, bytes]
) -> None:
    async with PeerGateway(keys, heartbeat_s=60.0) as peer, sim_robot(peer):
        await peer.wait_for(lambda: peer.of("serve-001", State))
        assert peer.of("serve-001", Heartbeat) == []
        peer.ping("serve-001")
        await peer.wait_for(lambda: peer.of("serve-001", Heartbeat), within=0.5)


async def test_command_acked_and_executed(peer: PeerGateway, sim_robot: RobotFactory) -> None:
    async with sim_robot(peer, speed=5.0) as robot:
        await peer.wait_for(lambda: "serve-001" in peer.sessions and peer.messages)
        peer.command("serve-001", "c-1", "goto", x=4.0, y=6.0)
        await peer.wait_for(
            lambda: any(isinstance(e, Event) and e.name == "arrived" for e in peer.messages)
        )
        assert robot.model.state == "idle"
    acks = peer.of("serve-001", Ack)
    assert [(a.id, a.ok) for a in acks] == [("c-1", True)]
    states = [s.state for s in peer.of("serve-001", State)]
    assert states == ["idle", "en_route", "idle"]
    ack_at = peer.messages.index(acks[0])
    assert isinstance(peer.messages[ack_at + 1], State)  # the ack comes before its effect


async def test_resent_command_is_acked_again_but_not_run_twice(
    peer: PeerGateway, sim_robot: RobotFactory
) -> None:
    async with sim_robot(peer) as robot:
        await peer.wait_for(lambda: "serve-001" in peer.sessions and peer.messages)
        peer.command("serve-001", "c-7", "goto", x=15.0, y=10.0, task="order-9")
        peer.command("serve-001", "c-7", "goto", attempt=2, x=15.0, y=10.0, task="order-9")
        peer.command("serve-001", "c-7", "goto", attempt=3, x=15.0, y=10.0, task="order-9")
        await peer.wait_for(lambda: len(peer.of("serve-001", Ack)) == 3)
        await asyncio.sleep(0.1)
        assert robot.stats.duplicates == 2
        assert robot.stats.acked_ok == 1
    acks = peer.of("serve-001", Ack)
    assert {(a.id, a.ok) for a in acks} == {("c-7", True)}
    assert [s.state for s in peer.of("serve-001", State)] == ["idle", "assigned"]


async def test_refused_command_gets_a_reason(peer: PeerGateway, sim_robot: RobotFactory) -> None:
    async with sim_robot(peer):
        await peer.wait_for(lambda: "serve-001" in peer.sessions and peer.messages)
        peer.command("serve-001", "c-2", "cook", recipe="ramen")
        ack = (await peer.wait_for(lambda: peer.of("serve-001", Ack)))[0]
    assert not ack.ok
    assert ack.reason == "cook: a serving robot cannot cook"


async def test_cooking_robot_over_the_wire(peer: PeerGateway, sim_robot: RobotFactory) -> None:
    async with sim_robot(peer, "cook-001"):
        await peer.wait_for(lambda: "cook-001" in peer.sessions and peer.messages)
        peer.command("cook-001", "k-1", "cook", recipe="ramen", order="o-1", item=2, seconds=0.1)
        await peer.wait_for(
            lambda: any(isinstance(m, Event) and m.name == "dish_ready" for m in peer.messages)
        )
    assert [s.state for s in peer.of("cook-001", State)] == ["idle", "cooking", "ready"]
    ready = next(m for m in peer.messages if isinstance(m, Event) and m.name == "dish_ready")
    assert ready.data == {"recipe": "ramen", "order": "o-1", "item": 2, "task": "o-1"}


async def test_reconnects_after_the_gateway_drops_it(
    peer: PeerGateway, sim_robot: RobotFactory
) -> None:
    async with sim_robot(peer) as robot:
        await peer.wait_for(lambda: len(peer.telemetry) >= 5)
        before = peer.telemetry[-1].seq
        peer.drop("serve-001")
        await peer.wait_for(lambda: len(peer.hellos) == 2)
        n = len(peer.telemetry)
        await peer.wait_for(lambda: len(peer.telemetry) >= n + 5)
        assert robot.stats.reconnects == 1
        assert robot.stats.disconnects == 1
        assert robot.connected
    after = [t.seq for t in peer.telemetry if t.seq > before]
    assert after
    assert min(after) > before
    assert peer.dropped == []
    # each session opens with the robot's current state
    assert [s.state for s in peer.of("serve-001", State)] == ["idle", "idle"]
    assert peer.hellos[0].cnonce != peer.hellos[1].cnonce


async def test_disconnect_hook_reconnects(peer: PeerGateway, sim_robot: RobotFactory) -> None:
    async with sim_robot(peer) as robot:
        await peer.wait_for(lambda: robot.connected)
        robot.disconnect()
        await peer.wait_for(lambda: len(peer.hellos) == 2)
        await peer.wait_for(lambda: robot.connected)


async def test_waits_for_a_gateway_that_is_not_up_yet(
    keys: dict[str, bytes], sim_robot: RobotFactory
) -> None:
    port = free_port()
    late = PeerGateway(keys, port=port)
    async with sim_robot(late, port=port) as robot:
        await asyncio.sleep(0.3)
        assert not robot.connected
        assert robot.stats.connect_failures >= 2
        error = (robot.last_error or "").lower()
        assert "refused" in error or "failed" in error
        await late.start()
        try:
            await late.wait_for(lambda: robot.connected)
            assert robot.last_error is None
        finally:
            await late.aclose()


async def test_events_made_while_disconnected_arrive_after_reconnect(
    keys: dict[str, bytes], sim_robot: RobotFactory
) -> None:
    port = free_port()
    peer = PeerGateway(keys, port=port)
    await peer.start()
    async with sim_robot(peer) as robot:
        await peer.wait_for(lambda: robot.connected)
        await peer.stop_listening()
        await peer.wait_for(lambda: not robot.connected)
        robot.fault("overheated")
        await peer.start()
        try:
            await peer.wait_for(lambda: len(peer.of("serve-001", State)) >= 2)
            await peer.wait_for(lambda: peer.of("serve-001", Event))
        finally:
            await peer.aclose()
    states = peer.of("serve-001", State)
    assert [(s.state, s.reason) for s in states] == [("idle", None), ("error", "overheated")]
    fault = peer.of("serve-001", Event)[0]
    assert (fault.name, fault.level, fault.data["reason"]) == ("fault", "alarm", "overheated")
    assert states[1].ts <= fault.ts < states[1].ts + 1  # stamped when it happened


async def test_silent_robot_sends_nothing_and_ignores_commands(
    peer: PeerGateway, sim_robot: RobotFactory
) -> None:
    async with sim_robot(peer) as robot:
        await peer.wait_for(lambda: len(peer.telemetry) >= 3)
        robot.go_silent()
        await asyncio.sleep(0.05)
        n_tel, n_msg = len(peer.telemetry), len(peer.messages)
        peer.command("serve-001", "c-1", "estop")
        peer.ping("serve-001")
        await asyncio.sleep(0.4)
        assert (len(peer.telemetry), len(peer.messages)) == (n_tel, n_msg)
        assert robot.stats.ignored == 2
        assert robot.model.state == "idle"
        robot.wake()
        peer.command("serve-001", "c-1", "estop", attempt=2)  # the gateway's resend
        await peer.wait_for(lambda: peer.of("serve-001", Ack))
        await peer.wait_for(lambda: len(peer.telemetry) > n_tel)
    assert robot.model.state == "estop"


async def test_telemetry_goes_over_tcp_without_a_udp_port(
    keys: dict[str, bytes], sim_robot: RobotFactory
) -> None:
    async with PeerGateway(keys, udp=False) as peer, sim_robot(peer):
        await peer.wait_for(lambda: len(peer.of("serve-001", Telemetry)) >= 3)
    assert peer.telemetry == []


async def test_wrong_key_is_refused_and_retried(peer: PeerGateway, sim_robot: RobotFactory) -> None:
    async with sim_robot(peer, key=b"\x01" * 32) as robot:
        await peer.wait_for(lambda: robot.stats.connect_failures >= 2)
        assert not robot.connected
        assert robot.last_error == (
            "LinkError: gateway refused: auth_failed: hello proof does not verify"
        )
    assert peer.refused
    assert peer.refused[0].code is ErrorCode.AUTH_FAILED


async def test_gateway_without_our_key_is_not_trusted(
    keys: dict[str, bytes], sim_robot: RobotFactory
) -> None:
    async with PeerGateway(keys, bad_welcome=True) as peer, sim_robot(peer) as robot:
        await peer.wait_for(lambda: robot.stats.connect_failures >= 1)
        assert not robot.connected
        assert "welcome proof does not verify" in (robot.last_error or "")
    assert peer.messages == []  # not one message to an impostor


async def test_silent_robot_does_not_reconnect(peer: PeerGateway, sim_robot: RobotFactory) -> None:
    async with sim_robot(peer) as robot:
        await peer.wait_for(lambda: robot.connected)
        robot.go_silent()
        peer.drop("serve-001")
        await asyncio.sleep(0.4)
        assert len(peer.hellos) == 1
        robot.wake()
        await peer.wait_for(lambda: len(peer.hellos) == 2)


async def test_gateway_goodbye_is_not_a_protocol_warning(
    peer: PeerGateway, sim_robot: RobotFactory
) -> None:
    async with sim_robot(peer) as robot:
        await peer.wait_for(lambda: robot.connected)
        session = peer.sessions["serve-001"]
        session.send(
            session.conn.send(
                Error(
                    robot="serve-001",
                    code=ErrorCode.SHUTTING_DOWN,
                    message="gateway is shutting down",
                )
            )
        )
        peer.drop("serve-001")
        await peer.wait_for(lambda: robot.stats.disconnects == 1)
        await peer.wait_for(lambda: len(peer.hellos) == 2)
        assert robot.stats.gateway_errors == 1
        assert robot._errors_seen == set()  # not logged as a warning


async def test_probe_events_are_numbered_one_by_one(
    peer: PeerGateway, sim_robot: RobotFactory
) -> None:
    async with sim_robot(peer, probe_hz=50) as robot:
        await peer.wait_for(lambda: len(_probes(peer)) >= 20)
        made = robot.probes
        await peer.wait_for(lambda: len(_probes(peer)) >= made)
    got = _probes(peer)
    assert got[:made] == list(range(1, made + 1))


async def test_no_probe_events_unless_asked(peer: PeerGateway, sim_robot: RobotFactory) -> None:
    async with sim_robot(peer) as robot:
        await peer.wait_for(lambda: len(peer.telemetry) >= 10)
    assert robot.probes == 0 and _probes(peer) == []


def _probes(peer: PeerGateway) -> list[int]:
    return [m.data["n"] for m in peer.of("serve-001", Event) if m.name == "probe"]


def test_gateway_addresses_parse() -> None:
    from simulator.client import parse_addresses

    assert parse_addresses("gw-1, gw-2:7710,[::1]:7800,[::2]", 7700) == [
        ("gw-1", 7700),
        ("gw-2", 7710),
        ("::1", 7800),
        ("::2", 7700),
    ]


async def test_a_robot_with_two_gateways_moves_to_the_second_when_the_first_goes(
    keys: dict[str, bytes], floor: Any
) -> None:
    import random

    from robodine.backoff import Backoff
    from simulator.client import TcpTransport
    from simulator.model import RobotModel
    from simulator.robot import SimRobot
    from simulator.transport import RobotIdentity

    async with PeerGateway(keys) as first, PeerGateway(keys) as second:
        transport = TcpTransport(
            "127.0.0.1", first.port, handshake_timeout_s=1.0, more=[("127.0.0.1", second.port)]
        )
        await transport.start()
        loop = asyncio.get_running_loop()
        rng = random.Random(3)
        model = RobotModel("serve-001", RobotKind.SERVING, floor, loop.time(), rng=rng)
        robot = SimRobot(
            RobotIdentity("serve-001", RobotKind.SERVING, keys["serve-001"]),
            model,
            transport,
            hz=50,
            clock=loop.time,
            backoff=Backoff(0.02, 0.1, rng=rng),
            rng=rng,
        )
        task = asyncio.create_task(robot.run())
        try:
            await first.wait_for(lambda: robot.connected)
            await first.stop_listening()
            first.drop("serve-001")  # the gateway is gone
            await second.wait_for(lambda: len(second.hellos) == 1 and robot.connected)
            n = len(second.telemetry)
            await second.wait_for(lambda: len(second.telemetry) >= n + 3)  # UDP to it as well
            assert transport.address_of("serve-001") == ("127.0.0.1", second.port)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await transport.aclose()
