"""Which robots a starting gateway expects back, from what the previous one left in their
snapshots, and what that changes for a command read before they reconnect."""

from __future__ import annotations

import uuid

from config import Settings
from gateway.fleet.fleet import Fleet
from gateway.metrics import Stats
from protocol.streams import CommandRecord, EventType
from tests.gateway.recorder import Recorder, online

T0 = 10_000.0
ROBOTS = [{"id": f"r{i}", "kind": "serving", "key": f"{i:02d}" * 32} for i in range(1, 8)]


def fleet() -> tuple[Fleet, Recorder]:
    settings = Settings(robots=ROBOTS, gateway={"stale_after_s": 3, "offline_after_s": 10})
    out = Recorder(lambda: T0)
    return Fleet(settings, out, Stats(), T0), out


def test_robots_left_connected_are_expected_back_and_no_others() -> None:
    f, _ = fleet()
    online(f.sessions["r7"], T0)  # already back
    back = f.expect_back(
        {
            "r1": [b"online", b"9000.5", b"9001.0"],  # the old gateway died: never told
            "r2": [b"stale", b"9000.0", b"9002.0"],
            "r3": [b"offline", b"9000.0", b"9000.8"],  # its link closed by the old gateway's stop
            "r4": [b"offline", b"9000.0", b"9012.0"],  # went silent: lost after offline_after_s
            "r5": [b"offline", None, b"9000.0"],  # never connected
            "r6": [b"offline", b"5000.0", b"9000.0"],  # offline long before (a later start)
            "r7": [b"online", b"9000.0", b"9000.0"],
        },
        T0,
    )
    assert back == ["r1", "r2", "r3"]
    assert f.sessions["r1"].expected_until == T0 + 10
    assert f.sessions["r4"].expected_until == 0.0
    assert f.expect_back({"r4": [b"offline", b"not a number", b"1"]}, T0) == []


def test_a_command_for_an_expected_robot_waits_until_the_grace_ends() -> None:
    f, out = fleet()
    f.expect_back({"r1": [b"online", b"9000.0", b"9000.0"]}, T0)

    def submit(robot: str, now: float) -> str:
        rec = CommandRecord(id=uuid.uuid4().hex, robot=robot, action="dock", ts=now)
        f.commands.submit(rec, f"{now}-0", now)
        return rec.id

    waits, fails = submit("r1", T0 + 1), submit("r2", T0 + 1)
    failed = {e.data["command"]: e.data["reason"] for e in out.of(EventType.COMMAND_FAILED)}
    assert failed == {fails: "robot_offline"}  # not expected: at once, as before
    f.tick(T0 + 9.9)
    assert len(out.of(EventType.COMMAND_FAILED)) == 1  # still waiting
    f.tick(T0 + 10.1)
    assert out.of(EventType.COMMAND_FAILED)[-1].data == {
        "command": waits, "action": "dock", "reason": "robot_offline",
        "detail": "no ack after 1 attempt(s)", "attempts": 1,
    }  # fmt: skip
    late = submit("r1", T0 + 11)  # after the grace: at once
    assert out.of(EventType.COMMAND_FAILED)[-1].data["command"] == late
