from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol.acks import PendingCommands
from protocol.messages import Command
from protocol.vocabulary import CommandAction


def cmd(cid: str = "c1") -> Command:
    return Command(robot="r", id=cid, action=CommandAction.DOCK)


def test_resend_until_attempts_run_out() -> None:
    table = PendingCommands(ack_timeout=1.0, max_attempts=3)
    table.add(cmd(), "1-0", now=0.0, deadline=100.0)
    assert table.due(0.5) == ([], [])
    resend, _ = table.due(1.0)
    assert [e.command.attempt for e in resend] == [2]
    resend, _ = table.due(2.0)
    assert [e.command.attempt for e in resend] == [3]
    resend, expired = table.due(3.0)
    assert resend == [] and [e.command.id for e in expired] == ["c1"] and len(table) == 0


def test_deadline_wins_and_nothing_is_resent_while_disconnected() -> None:
    table = PendingCommands(ack_timeout=1.0, max_attempts=10)
    table.add(cmd(), "1-0", now=0.0, deadline=2.5)
    assert table.due(1.5, connected=False) == ([], [])
    resend, expired = table.due(2.5, connected=False)
    assert resend == [] and len(expired) == 1


def test_ack_removes_and_reconnect_resends_everything() -> None:
    table = PendingCommands(ack_timeout=1.0, max_attempts=3)
    table.add(cmd("a"), "1-0", now=0.0)
    table.add(cmd("b"), "2-0", now=0.0)
    first = table.ack("a")
    assert first is not None and first.ref == "1-0" and table.ack("a") is None
    assert [(e.command.id, e.command.attempt) for e in table.resend_all(0.2)] == [("b", 2)]
    assert table.next_deadline() == 1.2


@given(st.lists(st.floats(0, 50), min_size=1, max_size=30))
def test_every_command_ends_exactly_once(times: list[float]) -> None:
    table = PendingCommands(ack_timeout=1.0, max_attempts=3)
    table.add(cmd(), "1-0", now=0.0, deadline=40.0)
    ended = 0
    for now in [*sorted(times), 41.0]:
        _, expired = table.due(now)
        ended += len(expired)
    assert ended == 1 and len(table) == 0
