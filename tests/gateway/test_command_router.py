"""The command router on its own: send, ack, resend, expire, de-duplicate, at a test's clock.

The fleet's output port is an in-memory recorder, each robot's link keeps what
it was sent (tests/gateway/recorder.py). Every command ends in exactly one
outcome event carrying the ack of its rd:commands entry.
"""

from __future__ import annotations

import uuid
from typing import Any, cast

from hypothesis import given, settings
from hypothesis import strategies as st

from config import Settings
from gateway.fleet.commands import CommandRouter
from gateway.fleet.session import RobotSession
from gateway.fleet.states import ConnState
from gateway.metrics import Stats
from protocol.messages import Ack, Command
from protocol.streams import CommandRecord, EventType
from protocol.vocabulary import CommandAction
from tests.gateway.recorder import Link, Recorder, online, session_of

T0 = 5_000.0
OUTCOMES = (EventType.COMMAND_ACKED, EventType.COMMAND_FAILED, EventType.COMMAND_DUPLICATE)


class Router:
    def __init__(self) -> None:
        self.now = T0
        self.settings = Settings(
            robots=[
                {"id": "serve-1", "kind": "serving", "key": "51" * 32},
                {"id": "cook-1", "kind": "cooking", "key": "c1" * 32},
            ],
            commands={"ack_timeout_s": 2, "max_attempts": 3, "ttl_s": 30},
        )
        self.out = Recorder(lambda: self.now)
        self.stats = Stats()
        self.sessions: dict[str, RobotSession] = {
            r.id: session_of(self.settings, r, T0) for r in self.settings.robots
        }
        self.router = CommandRouter(self.sessions, self.out, self.settings.commands, self.stats)
        self.outcomes: list[tuple[str, str, bool, str]] = []
        self.router.on_outcome = lambda *o: self.outcomes.append(o)
        self._refs = 0

    def link(self, robot: str = "serve-1") -> Link:
        link = online(self.sessions[robot], self.now)
        self.router.reconnected(self.sessions[robot], self.now)
        return link

    def drop(self, robot: str = "serve-1") -> None:
        s = self.sessions[robot]
        s.link, s.conn = None, ConnState.OFFLINE

    def submit(
        self,
        action: str = "goto",
        robot: str = "serve-1",
        *,
        cid: str | None = None,
        grace: float = 0.0,
        **rec: Any,
    ) -> tuple[str, str]:
        self._refs += 1
        ref = f"{self._refs}-0"
        record = CommandRecord(
            id=cid or uuid.uuid4().hex,
            robot=robot,
            action=action,
            ts=self.now,
            args={"x": 1, "y": 2},
            source="test",
            **rec,
        )
        self.router.submit(record, ref, self.now, grace=grace)
        return record.id, ref

    def ack(self, cmd: Command, ok: bool = True, robot: str = "serve-1") -> None:
        self.router.acked(
            self.sessions[robot],
            Ack(
                robot=robot,
                id=cmd.id,
                ok=ok,
                reason=None if ok else "no",
                data={"at": "T3"} if ok else {},
            ),
        )

    def tick(self, seconds: float) -> None:
        self.now += seconds
        for s in self.sessions.values():
            self.router.tick(s, self.now)

    def outcome(self, cid: str) -> list[tuple[str, str | None, str]]:
        return [
            (e.type, e.ack, e.data.get("reason", ""))
            for e in self.out.events
            if e.type in OUTCOMES and e.data.get("command") == cid
        ]


def test_a_command_is_sent_and_its_ack_recorded_with_the_entry_ack() -> None:
    r = Router()
    link = r.link()
    cid, ref = r.submit()
    [cmd] = link.take()
    assert (cmd.id, cmd.action, cmd.args, cmd.attempt) == (cid, "goto", {"x": 1, "y": 2}, 1)
    [sent] = r.out.of(EventType.COMMAND_SENT)
    assert sent.ack is None and sent.data["source"] == "test"  # the entry stays pending
    r.now += 0.4
    r.ack(cmd)
    [acked] = r.out.of(EventType.COMMAND_ACKED)
    assert (acked.ack, acked.data["attempts"], acked.data["result"]) == (ref, 1, {"at": "T3"})
    assert r.outcomes == [(cid, "serve-1", True, "")]
    r.tick(10)
    assert link.sent == []  # acked: never resent


def test_the_same_command_id_is_not_executed_twice() -> None:
    r = Router()
    link = r.link()
    cid, _ = r.submit()
    _, again = r.submit(cid=cid)  # redelivered while pending
    [cmd] = link.take()
    r.ack(cmd)
    _, later = r.submit(cid=cid)  # and after it was decided
    assert link.sent == []
    dup = r.out.of(EventType.COMMAND_DUPLICATE)
    assert [e.ack for e in dup] == [again, later]
    assert r.stats.get("commands", "duplicate") == 2


def test_unacked_commands_are_resent_then_fail_as_timeout() -> None:
    r = Router()
    link = r.link()
    cid, ref = r.submit()
    link.take()
    r.tick(2.0)
    r.tick(2.0)
    assert [(c.id, c.attempt) for c in link.take()] == [(cid, 2), (cid, 3)]
    r.tick(1.9)
    assert r.outcome(cid) == []
    r.tick(0.2)
    assert r.outcome(cid) == [("command.failed", ref, "timeout")]
    assert r.out.of(EventType.COMMAND_FAILED)[0].data["detail"] == "no ack after 3 attempt(s)"
    assert r.outcomes == [(cid, "serve-1", False, "timeout")]
    r.ack(Command(robot="serve-1", id=cid, action=CommandAction.GOTO))  # too late
    assert r.stats.get("commands", "stray_ack") == 1 and len(r.outcome(cid)) == 1


def test_a_command_waits_for_a_robot_that_drops_and_is_resent_when_it_is_back() -> None:
    r = Router()
    link = r.link()
    cid, ref = r.submit()
    link.take()
    r.drop()
    r.tick(10)  # away: nothing is resent meanwhile, the command is not given up
    assert r.outcome(cid) == []
    back = r.link()
    [cmd] = back.take()
    assert cmd.id == cid and cmd.attempt == 2
    r.ack(cmd)
    assert r.outcome(cid) == [("command.acked", ref, "")]


def test_a_command_past_its_expiry_fails_as_expired_or_robot_offline() -> None:
    r = Router()
    link = r.link()
    cid, ref = r.submit(expires=T0 - 1)
    assert r.outcome(cid) == [("command.failed", ref, "expired")] and link.sent == []
    cid, ref = r.submit(expires=T0 + 5)
    link.take()
    r.drop()
    r.tick(5.5)  # its own expiry bounds how long an absent robot is waited for
    assert r.outcome(cid) == [("command.failed", ref, "robot_offline")]


def test_commands_that_cannot_be_delivered_fail_at_once() -> None:
    r = Router()
    r.link("cook-1")
    cases = [
        r.submit(robot="nobody"),
        r.submit(action="fly"),
        r.submit(action="dock", robot="cook-1"),
        r.submit(action="dock"),  # serve-1 is offline
    ]
    assert [r.outcome(cid) for cid, _ in cases] == [
        [("command.failed", ref, reason)]
        for (_, ref), reason in zip(
            cases,
            ["unknown_robot", "unknown_action", "unsupported_for_kind", "robot_offline"],
            strict=True,
        )
    ]
    assert r.stats.get("commands", "failed_robot_offline") == 1


def test_a_robot_that_refuses_a_command_fails_it_with_its_reason() -> None:
    r = Router()
    link = r.link()
    cid, ref = r.submit()
    r.ack(link.take()[0], ok=False)
    [failed] = r.out.of(EventType.COMMAND_FAILED)
    assert (failed.ack, failed.data["reason"], failed.data["detail"]) == (ref, "refused", "no")
    assert r.outcomes == [(cid, "serve-1", False, "no")]


def test_with_a_grace_an_offline_robot_gets_time_to_come_back() -> None:
    r = Router()
    cid, ref = r.submit(grace=3.0)  # recovered after a gateway restart
    assert r.outcome(cid) == []
    r.tick(2.0)
    [cmd] = r.link().take()
    assert cmd.id == cid
    r.ack(cmd)
    assert r.outcome(cid) == [("command.acked", ref, "")]
    late, late_ref = r.submit(grace=3.0, robot="cook-1", action="cook")
    r.tick(3.1)
    assert r.outcome(late) == [("command.failed", late_ref, "robot_offline")]


def test_the_dispatchers_own_commands_return_an_id_or_none() -> None:
    r = Router()
    assert r.router.send("serve-1", CommandAction.DOCK, {}, r.now) is None  # offline
    assert r.out.of(EventType.COMMAND_FAILED)[0].ack == ""  # no stream entry to ack
    link = r.link()
    cid = r.router.send("serve-1", CommandAction.DOCK, {}, r.now)
    assert cid is not None and [c.id for c in link.take()] == [cid]
    assert r.out.of(EventType.COMMAND_SENT)[0].data["source"] == "dispatcher"


event = st.one_of(
    st.tuples(st.just("submit"), st.sampled_from(["goto", "dock", "fly"]), st.booleans()),
    st.tuples(st.just("ack"), st.booleans()),
    st.tuples(st.just("tick"), st.sampled_from([0.5, 2.0, 7.0])),
    st.tuples(st.just("drop")),
    st.tuples(st.just("link")),
    st.tuples(st.just("again")),  # the last command's id submitted once more
)


@settings(max_examples=200)
@given(st.lists(event, max_size=40))
def test_every_command_ends_in_exactly_one_outcome(events: list[tuple[Any, ...]]) -> None:
    r = Router()
    link: Link | None = r.link()
    refs: dict[str, str] = {}  # entry -> command id
    last = ""
    for ev in events:
        if ev[0] == "submit":
            last, ref = r.submit(ev[1], grace=5.0 if ev[2] else 0.0)
            refs[ref] = last
        elif ev[0] == "again" and last:
            _, ref = r.submit(cid=last)
            refs[ref] = last
        elif ev[0] == "ack" and link is not None and link.sent:
            r.ack(cast(Command, link.sent[-1]), ok=ev[1])  # the router sends only commands
        elif ev[0] == "tick":
            r.tick(ev[1])
        elif ev[0] == "drop":
            r.drop()
            link = None
        elif ev[0] == "link" and link is None:
            link = r.link()
    r.tick(60.0)  # past every deadline: all decided
    told = [e.ack for e in r.out.events if e.type in OUTCOMES]
    assert sorted(told, key=str) == sorted(refs, key=str)  # one outcome per entry, each acked
    assert len(r.sessions["serve-1"].pending) == 0


def test_an_acknowledged_pause_shows_in_the_snapshot_until_resume_or_release() -> None:
    r = Router()
    link = r.link()
    assert "paused" not in r.out.snapshots.get("serve-1", {})
    for action, paused in (("pause", 1), ("goto", 1), ("resume", 0), ("pause", 1), ("release", 0)):
        r.submit(action)
        [cmd] = link.take()
        r.ack(cmd)
        assert r.out.snapshots["serve-1"].get("paused") == paused, action
    r.submit("pause")
    [cmd] = link.take()
    r.ack(cmd, ok=False)  # refused: nothing changes
    assert r.out.snapshots["serve-1"]["paused"] == 0
