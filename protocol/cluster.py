"""The Redis keys several gateways share (docs/scaling.md): leases, liveness, inboxes.

Only used with ``[cluster] enabled``; one gateway per Redis writes none of them.

- ``rd:lease:{robot}``: string ``"{gateway} {token}"``, PX ``cluster.lease_ttl_s``:
  the gateway that holds the robot. ``token`` is the robot's fencing token,
  ``rd:fences[robot]`` incremented at each acquisition, carried as ``fence`` in every
  event the holder writes about the robot.
- ``rd:lease:{robot}:want``: string, the gateway a newer connection of the robot reached;
  the holder lets the robot go at its next renewal.
- ``rd:gateway:{name}``: string, that gateway's liveness and description (JSON), PX the
  same TTL; ``rd:gateways`` is the set of names that have (or had) one.
- ``rd:leader``: string ``"{gateway} {epoch}"``, PX the same TTL: the gateway that
  dispatches orders; ``epoch`` is ``rd:leader:epoch`` incremented at each election.
- ``rd:inbox:{gateway}``: the commands routed to that gateway (consumer group ``gateway``).
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = [
    "FENCES",
    "GATEWAYS",
    "INBOX_PREFIX",
    "LEADER",
    "LEADER_EPOCH",
    "Holder",
    "ack_ref",
    "gateway_key",
    "inbox",
    "lease_key",
    "parse_holder",
    "split_ref",
    "want_key",
]

LEASE_PREFIX: Final = "rd:lease:"
GATEWAY_PREFIX: Final = "rd:gateway:"
GATEWAYS: Final = "rd:gateways"
LEADER: Final = "rd:leader"
LEADER_EPOCH: Final = "rd:leader:epoch"
FENCES: Final = "rd:fences"
INBOX_PREFIX: Final = "rd:inbox:"


def lease_key(robot: str) -> str:
    return LEASE_PREFIX + robot


def want_key(robot: str) -> str:
    return f"{LEASE_PREFIX}{robot}:want"


def gateway_key(name: str) -> str:
    return GATEWAY_PREFIX + name


def inbox(name: str) -> str:
    return INBOX_PREFIX + name


class Holder(NamedTuple):
    """Who holds a lease (a robot's or the leader's), and under which token."""

    gateway: str
    token: int


def parse_holder(value: bytes | str | None) -> Holder | None:
    """``"gw-2 17"`` -> Holder("gw-2", 17); None for no value or one we did not write."""
    if value is None:
        return None
    text = value.decode() if isinstance(value, bytes) else value
    name, _, token = text.rpartition(" ")
    if not name or not token.isdigit():
        return None
    return Holder(name, int(token))


def ack_ref(stream: str, entry_id: str) -> str:
    """What a command's outcome acknowledges: ``"{stream} {id}"``, or the bare id for
    rd:commands (what one gateway per Redis has always written)."""
    return entry_id if stream == "rd:commands" else f"{stream} {entry_id}"


def split_ref(ref: str) -> tuple[str, str]:
    """``ack_ref``'s inverse: (stream, entry id)."""
    stream, _, entry_id = ref.rpartition(" ")
    return (stream or "rd:commands", entry_id)
