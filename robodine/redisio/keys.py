"""Every Redis key the product writes or reads, under one configured namespace.

``redis.key_prefix`` (default ``rd``) is the first part of every key:
``rd:events``, ``rd:robot:r1``, ``rd:lease:r1``. ``{rd}`` makes the same keys
``{rd}:events``, ``{rd}:robot:r1`` ...: the braces are a Redis Cluster hash
tag, so every key hashes to one slot and each Lua script and multi-key command
(XREAD of several streams, MULTI, the telemetry batch, the lease script) finds
all its keys on one node, which Cluster demands (docs/scaling.md, Redis
Cluster). That is compatibility with a Cluster endpoint, not sharding: one
slot lives on one node.

One namespace per process: the Redis clients set it from the settings they are
made with (``robodine.redisio.client``), before any key is named, and code
reads ``KEYS`` at call time (``KEYS.events``, ``KEYS.robot(rid)``), never a
copy taken at import. ``DEFAULT`` is the namespace under ``rd``, the names
docs/streams.md lists.

SAQ names its own keys (``saq:{queue}:...``, ``saq:job:{queue}:{job}``,
``saq:abort:{job}``): ``saq_queue`` puts the hash tag in front of the queue's
name, and web/jobs/queue.py puts it into the abort key, so SAQ's scripts too
find their keys in the one slot.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["DEFAULT", "KEYS", "PREFIX_PATTERN", "Keys", "Named", "configure"]

# A bare namespace, or one in braces: a Redis Cluster hash tag (docs/scaling.md).
PREFIX_PATTERN: Final = r"^(?:[A-Za-z0-9_-]{1,32}|\{[A-Za-z0-9_-]{1,32}\})$"
_PREFIX: Final = re.compile(PREFIX_PATTERN)


class Keys:
    """The key names under one prefix. Attributes, not properties: the hot paths (the
    telemetry batch, the hub) read them per entry."""

    def __init__(self, prefix: str = "rd") -> None:
        self._use(prefix)

    def _use(self, prefix: str) -> None:
        if not _PREFIX.match(prefix):
            raise ValueError(f"redis.key_prefix {prefix!r}: letters, digits, _ and -, or in braces")
        p = prefix + ":"
        self.prefix = prefix
        self.pattern = p + "*"  # SCAN MATCH for every key of ours (not SAQ's)
        self.tag = prefix if prefix.startswith("{") else ""  # the hash tag, "" without one
        # streams
        self.telemetry = p + "telemetry"
        self.events = p + "events"
        self.commands = p + "commands"
        self.jobs = p + "jobs"
        self.todos = p + "todos"
        self.restaurant = p + "restaurant"
        self.presence = p + "presence"  # presence changes (chat)
        self.chatrooms = p + "chatrooms"  # a room added, changed or archived
        # hashes and sets
        self.robots = p + "robots"  # set: robot ids that have a snapshot
        self.registry = p + "registry"  # hash: robot id -> RegistryEntry JSON
        self.dispatch = p + "dispatch"  # hash: order id -> the dispatcher's state of it
        self.cameras = p + "cameras"  # hash: robot:camera -> the camera's status
        self.revoked = p + "revoked"  # sorted set: logged-out tokens
        # several gateways on one Redis (protocol/cluster.py)
        self.gateways = p + "gateways"
        self.leader = p + "leader"
        self.leader_epoch = p + "leader:epoch"
        self.fences = p + "fences"
        # families: a prefix, then the id
        self.robot_prefix = p + "robot:"
        self.chat_prefix = p + "chat:"
        self.camera_prefix = p + "camera:"
        self.record_prefix = p + "record:"
        self.lease_prefix = p + "lease:"
        self.gateway_prefix = p + "gateway:"
        self.inbox_prefix = p + "inbox:"
        self.command_prefix = p + "command:"
        self.robot_commands_prefix = p + "robot-commands:"
        self.outbox_prefix = p + "outbox:"
        self.presence_prefix = p + "presence:"
        self.relay_prefix = p + "relay:"
        self.chatrate_prefix = p + "chatrate:"
        self.idem_prefix = p + "idem:"
        self.job_callback_prefix = p + "jobs:callback:"
        self.job_wake_prefix = p + "jobs:wake:"
        self.job_submitted_prefix = p + "jobs:submitted:"

    def __repr__(self) -> str:
        return f"Keys({self.prefix!r})"

    def named(self, attr: str) -> Named:
        """A class attribute that is this key, read when used (not when the class is made)."""
        getattr(self, attr)  # AttributeError now for a misspelt name
        return Named(self, attr)

    # ---- one key of a family --------------------------------------------------

    def robot(self, robot_id: str) -> str:
        """The hash of one robot's latest state (RobotSnapshot)."""
        return self.robot_prefix + robot_id

    def chat(self, room: str) -> str:
        return self.chat_prefix + room

    def camera(self, robot: str, camera: str) -> str:
        """The stream of one camera's newest frames."""
        return f"{self.camera_prefix}{robot}:{camera}"

    def record(self, robot: str, camera: str) -> str:
        """Set by a record request: the recorder records the camera until its value."""
        return f"{self.record_prefix}{robot}:{camera}"

    def lease(self, robot: str) -> str:
        return self.lease_prefix + robot

    def want(self, robot: str) -> str:
        return f"{self.lease_prefix}{robot}:want"

    def gateway(self, name: str) -> str:
        return self.gateway_prefix + name

    def inbox(self, name: str) -> str:
        return self.inbox_prefix + name

    def command(self, command_id: str) -> str:
        """The web's record of one command it queued (web/robots/command_status.py)."""
        return self.command_prefix + command_id

    def robot_commands(self, robot: str) -> str:
        return self.robot_commands_prefix + robot

    def outbox(self, command_id: str) -> str:
        """The marker that an outbox row is on rd:commands (web/orders/outbox.py)."""
        return self.outbox_prefix + command_id

    def idem(self, user: str, key: str) -> str:
        return f"{self.idem_prefix}{user}:{key}"

    def short(self, key: str) -> str:
        """``rd:events`` -> ``events``: a stream's name without the namespace (hub readers,
        webhook event ids), the same whatever the prefix."""
        return key.removeprefix(self.prefix + ":")

    # ---- SAQ ----------------------------------------------------------------

    def saq_queue(self, name: str) -> str:
        """SAQ's queue name: ``jobs.queue`` with the hash tag in front when there is one
        (its keys are ``saq:{name}:...``: the first braces decide the slot)."""
        return self.tag + name


class Named:
    """``KEYS.named("events")``: a class attribute (a topic's stream) that names the key
    under the namespace of the moment: classes are made at import, before it is set."""

    def __init__(self, keys: Keys, attr: str) -> None:
        self.keys = keys
        self.attr = attr

    def __get__(self, obj: object, owner: type | None = None) -> str:
        value: str = getattr(self.keys, self.attr)
        return value


DEFAULT: Final = Keys("rd")
KEYS: Final = Keys("rd")  # this process's namespace: configure() sets it


def configure(prefix: str) -> Keys:
    """Name every key under ``prefix`` from now on in this process; returns ``KEYS``."""
    if prefix != KEYS.prefix:
        KEYS._use(prefix)
    return KEYS
