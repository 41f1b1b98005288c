"""Redis stream names and record codecs: the one contract gateway and web share.

Records are flat field maps (readable with ``redis-cli XRANGE``). Each codec
is a msgspec Struct; ``to_fields`` gives what XADD takes and ``from_fields``
accepts what XRANGE/XREAD return (bytes or str), converting numbers back.

Telemetry is the exception: an entry is the robot id plus the whole sample as
one JSON object (``sample``). It is the one stream read at tens of thousands
of entries a second, and every reader wants the sample whole: the web tier
forwards the JSON to its clients as it is, after one validating decode,
instead of converting ten text fields and encoding them again (docs/performance.md).
See docs/streams.md for the field-by-field reference.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any, Final, TypeVar, cast

import msgspec
import orjson
from msgspec import Meta

from robodine.redisio.keys import DEFAULT

__all__ = [
    "CAMERAS",
    "CAMERA_PREFIX",
    "CHAT_PREFIX",
    "COMMANDS",
    "COMMANDS_GROUP",
    "DISPATCH",
    "EVENTS",
    "RECORD_PREFIX",
    "REGISTRY",
    "ROBOTS_INDEX",
    "ROBOT_PREFIX",
    "TELEMETRY",
    "TELEMETRY_SAMPLE",
    "CommandRecord",
    "CommandType",
    "EventRecord",
    "EventType",
    "Fields",
    "Level",
    "OrderStatus",
    "RegistryEntry",
    "RegistryVda",
    "RobotSnapshot",
    "TelemetryRecord",
    "camera_stream",
    "chat_stream",
    "decode_fields",
    "from_fields",
    "record_key",
    "robot_key",
    "to_fields",
]

# The names under the default namespace ``rd`` (docs/streams.md), for tools and tests
# that read a default box. Running code names keys through robodine.redisio.keys.KEYS,
# which follows ``redis.key_prefix``.
TELEMETRY: Final = DEFAULT.telemetry
TELEMETRY_SAMPLE: Final = "sample"  # rd:telemetry's JSON field (module docstring)
EVENTS: Final = DEFAULT.events
COMMANDS: Final = DEFAULT.commands
COMMANDS_GROUP: Final = "gateway"
ROBOT_PREFIX: Final = DEFAULT.robot_prefix
ROBOTS_INDEX: Final = DEFAULT.robots  # set of robot ids that have a snapshot
CHAT_PREFIX: Final = DEFAULT.chat_prefix
REGISTRY: Final = (
    DEFAULT.registry
)  # hash: robot id -> RegistryEntry JSON (robots added through the API)
DISPATCH: Final = DEFAULT.dispatch  # hash: order id -> the dispatcher's JSON state of that order
CAMERAS: Final = DEFAULT.cameras  # hash: robot:camera -> the camera's JSON status
CAMERA_PREFIX: Final = DEFAULT.camera_prefix  # stream per camera: its newest frames
RECORD_PREFIX: Final = DEFAULT.record_prefix  # string per camera: record it until this time

robot_key = DEFAULT.robot
camera_stream = DEFAULT.camera  # the stream of one camera's newest frames (docs/streams.md)
record_key = DEFAULT.record  # the recorder records the camera until its value
chat_stream = DEFAULT.chat


class Level(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ALARM = "alarm"


class EventType(StrEnum):
    """Every ``type`` that appears in rd:events (docs/streams.md lists their data)."""

    ROBOT_CONNECTION = "robot.connection"  # online / stale / offline
    ROBOT_STATE = "robot.state"  # operational state changed
    ROBOT_TRANSITION_REFUSED = "robot.transition_refused"
    ROBOT_EVENT = "robot.event"  # something the robot itself reported
    COMMAND_SENT = "command.sent"
    COMMAND_ACKED = "command.acked"
    COMMAND_FAILED = "command.failed"
    COMMAND_DUPLICATE = "command.duplicate"  # same command id submitted again: not executed twice
    ORDER_STATUS = "order.status"  # an order moved on (OrderStatus); the web's projector applies it
    TASK_ASSIGNED = "task.assigned"  # a cook or delivery task went to a robot
    TASK_RELEASED = (
        "task.released"  # a robot lost its task (fault, offline, dropped it): reassigned
    )
    REGISTRY_CHANGED = "registry.changed"  # a robot added, updated or removed without a restart
    GATEWAY_STARTED = "gateway.started"
    GATEWAY_STOPPED = "gateway.stopped"
    GATEWAY_SPOOL_OVERFLOW = "gateway.spool_overflow"
    GATEWAY_SPOOL_DEGRADED = "gateway.spool_degraded"  # the spool's disk refuses writes
    RECORDER_STORE_FULL = "recorder.store_full"  # recordings stopped: no room (docs/cameras.md)
    RECORDER_STORE_RECOVERED = "recorder.store_recovered"  # recording again
    RECORDER_CLIP = "recorder.clip"  # an incident's clip is in the store
    AUDIT = "audit"  # a write by an integration (web): who, what route, what answer


class CommandType(StrEnum):
    """``type`` of an rd:commands entry."""

    ROBOT = "robot"  # a command for one robot: robot, action, args
    ORDER_PLACE = (
        "order.place"  # args: order, table {name, x, y}, items [{line, name, recipe, quantity}]
    )
    ORDER_CANCEL = "order.cancel"  # args: order
    ORDER_PICKUP = "order.pickup"  # args: order; staff confirmed the guest took the dishes
    REGISTRY_SYNC = "registry.sync"  # args: robot; re-read rd:registry[robot] (absent: removed)


class OrderStatus(StrEnum):
    """The statuses a delivered order passes through, in order (docs/orders.md)."""

    PLACED = "placed"
    COOKING = "cooking"
    READY = "ready"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    CANCELLED = "cancelled"


class RegistryVda(msgspec.Struct, kw_only=True):
    """A VDA 5050 AGV's identity: the ``manufacturer`` and ``serialNumber`` of its topics, and
    the protocol version the registry pins (None: learned from its headers)."""

    manufacturer: str
    serial: str
    version: str | None = None


class RegistryEntry(msgspec.Struct, kw_only=True):
    """One robot of rd:registry. ``key`` is sealed (protocol.sealing), never in clear.

    ``transport`` and ``vda`` say how the robot reaches the gateway, as a config
    robot's ``transport`` and ``vda`` do; entries written before they existed are TCP.
    """

    id: str
    kind: str
    key: str
    name: str = ""
    updated: float = 0.0
    transport: str = "tcp"  # tcp | mqtt | vda5050
    vda: RegistryVda | None = None  # required for vda5050


class TelemetryRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One sample. Untracked by the cycle collector (scalars only, no cycles possible): the
    web tier makes one per sample it fans out, the gateway one per sample it takes in."""

    robot: Annotated[str, Meta(description="the robot's id", examples=["serve-1"])]
    seq: Annotated[int, Meta(description="the robot's message sequence number")]
    ts: Annotated[float, Meta(description="when measured: the robot's clock, epoch seconds")]
    x: Annotated[
        float, Meta(description="position on the floor plan, metres (the `[floor]` frame)")
    ]
    y: Annotated[float, Meta(description="position on the floor plan, metres")]
    theta: Annotated[float, Meta(description="heading, radians")]
    battery: Annotated[float, Meta(description="percent, 0 to 100", examples=[87.5])]
    speed: Annotated[float, Meta(description="metres a second")]
    transport: Annotated[
        str, Meta(description="how it came: `udp`, `tcp` or `mqtt`", examples=["udp"])
    ] = "udp"
    rx: Annotated[
        float,
        Meta(description="when the gateway got it (its clock): `rx - ts` shows skew and lag"),
    ] = 0.0


class EventRecord(msgspec.Struct, frozen=True, kw_only=True):
    eid: Annotated[
        str, Meta(description="unique id (replays after a Redis outage are deduplicated by it)")
    ]
    type: Annotated[
        str,
        Meta(
            description="what happened (docs/streams.md lists each type and its `data`)",
            examples=["command.acked"],
        ),
    ]
    ts: Annotated[float, Meta(description="when it happened, epoch seconds (the writer's clock)")]
    robot: Annotated[
        str, Meta(description="the robot it is about; empty for gateway-wide events")
    ] = ""
    level: Annotated[Level, Meta(description="`info`, `warning` or `alarm`")] = Level.INFO
    src: Annotated[str, Meta(description="which gateway or web process wrote it")] = ""
    data: Annotated[dict[str, Any], Meta(description="per type (docs/streams.md)")] = {}


class CommandRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    robot: str
    action: str
    ts: float
    args: dict[str, Any] = {}
    expires: float = 0.0  # absolute time after which the gateway fails it unsent; 0 = default
    source: str = ""  # who asked: a username, "cli", "dispatcher"
    type: str = "robot"


class RobotSnapshot(msgspec.Struct, kw_only=True, omit_defaults=True):
    """The hash rd:robot:{id}: latest known everything about one robot."""

    id: Annotated[str, Meta(description="the robot's id", examples=["serve-1"])]
    kind: Annotated[str, Meta(description="`serving` or `cooking`", examples=["serving"])] = ""
    name: Annotated[str, Meta(description="for people")] = ""
    connection: Annotated[
        str, Meta(description="`online`, `stale` or `offline`", examples=["online"])
    ] = "offline"
    state: Annotated[
        str, Meta(description="what the robot says it does (docs/states.md)", examples=["idle"])
    ] = ""
    transport: Annotated[
        str, Meta(description="how it is connected: `tcp`, `udp`, `mqtt`, `vda5050`")
    ] = ""
    task: Annotated[str, Meta(description="the task it works on, if any")] = ""
    paused: Annotated[
        bool,
        Meta(description="an acknowledged pause, until a resume or release (state unchanged)"),
    ] = False
    firmware: Annotated[str, Meta(description="as the robot announced it")] = ""
    x: Annotated[float | None, Meta(description="last position, metres (null: unknown)")] = None
    y: Annotated[float | None, Meta(description="last position, metres")] = None
    theta: Annotated[float | None, Meta(description="last heading, radians")] = None
    battery: Annotated[float | None, Meta(description="last battery level, percent")] = None
    speed: Annotated[float | None, Meta(description="last speed, metres a second")] = None
    seq: Annotated[int | None, Meta(description="sequence number of its last sample")] = None
    ts: Annotated[float | None, Meta(description="its last telemetry, the robot's clock")] = None
    seen: Annotated[
        float | None,
        Meta(description="the last time the gateway heard from it, the gateway's clock"),
    ] = None
    updated: Annotated[
        float | None, Meta(description="when the gateway last wrote this record")
    ] = None
    address: Annotated[
        str, Meta(description="the IP address its connection came from (empty: unknown)")
    ] = ""
    mac: Annotated[
        str,
        Meta(
            description="its MAC, when the gateway's LAN shows it (same link, IPv4); empty: "
            "unknown",
            examples=["b8:27:eb:12:34:56"],
        ),
    ] = ""
    # camera id -> its status (gateway.cameras.hub.CameraStatus), JSON in the hash
    cameras: Annotated[
        dict[str, dict[str, Any]],
        Meta(description="camera id -> its state and counters (docs/cameras.md)"),
    ] = {}


_JSON_FIELDS: Final = frozenset({"data", "args", "cameras"})
_encode = msgspec.json.Encoder().encode
_decode_telemetry = msgspec.json.Decoder(TelemetryRecord).decode
_SAMPLE_BYTES: Final = TELEMETRY_SAMPLE.encode()
R = TypeVar("R", bound=msgspec.Struct)


Fields = dict[str, str | int | float]


def to_fields(record: msgspec.Struct) -> Fields:
    """Flatten a record for XADD/HSET; dict fields become one JSON string."""
    if type(record) is TelemetryRecord:
        return {"robot": record.robot, TELEMETRY_SAMPLE: _encode(record).decode()}
    out: Fields = {}
    for name in record.__struct_fields__:
        value = getattr(record, name)
        if value is None:
            continue
        if name in _JSON_FIELDS:
            out[name] = orjson.dumps(value).decode()
        elif isinstance(value, bool):
            out[name] = int(value)
        else:
            out[name] = value
    return out


def decode_fields(fields: Mapping[bytes, bytes] | Mapping[str, str]) -> dict[str, Any]:
    """A Redis field map as a dict of str, with JSON fields parsed."""
    out: dict[str, Any] = {}
    for k, v in fields.items():
        key = k.decode() if isinstance(k, bytes) else k
        if key in _JSON_FIELDS:
            out[key] = orjson.loads(v)
        else:
            out[key] = v.decode() if isinstance(v, bytes) else v
    return out


def from_fields(cls: type[R], fields: Mapping[bytes, bytes] | Mapping[str, str]) -> R:
    """Rebuild a record from Redis; numbers stored as text are converted back.

    Raises msgspec.ValidationError when a field is missing or wrong.
    """
    if cls is TelemetryRecord:
        by_name = cast(Mapping[Any, Any], fields)
        sample = by_name.get(TELEMETRY_SAMPLE, by_name.get(_SAMPLE_BYTES))
        if sample is None:
            raise msgspec.ValidationError(f"no {TELEMETRY_SAMPLE!r} field")
        try:
            rec = _decode_telemetry(sample)
        except msgspec.DecodeError as exc:  # not JSON: what the readers skip
            raise msgspec.ValidationError(f"{TELEMETRY_SAMPLE}: {exc}") from None
        robot = by_name.get("robot", by_name.get(b"robot"))
        if robot not in (rec.robot, rec.robot.encode()):  # readers pick robots by this one
            raise msgspec.ValidationError(f"robot {robot!r} holds a sample of {rec.robot!r}")
        return cast(R, rec)
    if type(fields) is dict and _JSON_FIELDS.isdisjoint(fields):
        first = next(iter(fields), "")
        if type(first) is str and type(fields[first]) is str:  # decoded: nothing to redo
            return msgspec.convert(fields, cls, strict=False)
    return msgspec.convert(decode_fields(fields), cls, strict=False)
