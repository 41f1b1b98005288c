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

from robodine.redisio.keys import DEFAULT, KEYS

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

# Under the default namespace ``rd``, for tools and tests; running code names these
# keys through robodine.redisio.keys.KEYS (``redis.key_prefix``).
LEASE_PREFIX: Final = DEFAULT.lease_prefix
GATEWAY_PREFIX: Final = DEFAULT.gateway_prefix
GATEWAYS: Final = DEFAULT.gateways
LEADER: Final = DEFAULT.leader
LEADER_EPOCH: Final = DEFAULT.leader_epoch
FENCES: Final = DEFAULT.fences
INBOX_PREFIX: Final = DEFAULT.inbox_prefix

lease_key = DEFAULT.lease
want_key = DEFAULT.want
gateway_key = DEFAULT.gateway
inbox = DEFAULT.inbox


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
    return entry_id if stream == KEYS.commands else f"{stream} {entry_id}"


def split_ref(ref: str) -> tuple[str, str]:
    """``ack_ref``'s inverse: (stream, entry id)."""
    stream, _, entry_id = ref.rpartition(" ")
    return (stream or KEYS.commands, entry_id)
