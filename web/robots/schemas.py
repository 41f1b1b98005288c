"""Request and answer models of /api/robots: registry, snapshots, telemetry, commands."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from protocol.streams import RobotSnapshot, TelemetryRecord
from web.http.schemas import Offset, Query, Request, RobotId, StreamIdStr, doc

# ---- robots, telemetry, events, commands ------------------------------------------


class RobotPath(Query):
    robot_id: Annotated[RobotId, doc("the robot")]


Transport = Literal["tcp", "mqtt", "vda5050"]


class VdaIdentity(Struct, forbid_unknown_fields=True, kw_only=True):
    """Who an AGV is in VDA 5050: the manufacturer and serialNumber of its topics."""

    manufacturer: Annotated[
        str,
        Meta(min_length=1, max_length=100, pattern=r"^[^/+#$\x00][^/+#\x00]*$"),
        doc("the AGV's `manufacturer` in its topics (no `/`, `+`, `#`)", "acme"),
    ]
    serial: Annotated[
        str,
        Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$"),
        doc("the AGV's `serialNumber` in its topics", "agv-001"),
    ]
    version: (
        Annotated[
            str,
            Meta(pattern=r"^\d+\.\d+\.\d+$"),
            doc("the protocol version to speak; null: learned from the AGV's headers", "2.0.0"),
        ]
        | None
    ) = None


class RobotIn(Request):
    """A robot registered through the API; a TCP robot's key is made by the server and shown
    once. ``transport`` and ``vda`` are those of a config robot: ``vda`` given and no transport
    means ``vda5050``; a VDA 5050 robot needs ``vda`` and is a serving robot."""

    id: Annotated[RobotId, doc("the new robot's id (not one of the config file's)")]
    kind: Annotated[Literal["serving", "cooking"], doc("what it is")]
    name: Annotated[str, Meta(max_length=100), doc("for people")] = ""
    network: Annotated[
        str, Meta(max_length=128), doc("MAC, host name or serial, for people", "b8:27:eb:12:34:56")
    ] = ""
    transport: Annotated[
        Transport | None, doc("tcp, mqtt or vda5050 (default tcp; vda5050 when `vda` is given)")
    ] = None
    vda: Annotated[
        VdaIdentity | None, doc("a VDA 5050 AGV's manufacturer, serial number and version")
    ] = None


class RobotPatch(Request):
    """Only the fields sent change. The result is checked as ``POST /api/robots`` checks a new
    robot: a vda5050 robot needs ``vda`` and is a serving robot; ``vda`` with another transport
    is a 422. Sending ``transport`` alone away from vda5050 drops the AGV identity."""

    name: Annotated[Annotated[str, Meta(max_length=100)] | UnsetType, doc("for people")] = UNSET
    kind: Annotated[Literal["serving", "cooking"] | UnsetType, doc("what it is")] = UNSET
    network: Annotated[
        Annotated[str, Meta(max_length=128)] | UnsetType,
        doc("MAC, host name or serial, for people", "b8:27:eb:12:34:56"),
    ] = UNSET
    transport: Annotated[Transport | UnsetType, doc("tcp, mqtt or vda5050")] = UNSET
    vda: Annotated[
        VdaIdentity | UnsetType | None,
        doc("a VDA 5050 AGV's manufacturer, serial number and version (null: none)"),
    ] = UNSET


class RobotOut(RobotSnapshot, kw_only=True, omit_defaults=False):
    """The gateway's snapshot (rd:robot:{id}) merged with the registry.

    Every field is present (``null`` when unknown): ``omit_defaults`` of the
    snapshot is for the Redis hash, not for clients.
    """

    registered: Annotated[
        bool, doc("in the registry: the config's `[[robots]]` or added through the API")
    ]
    source: Annotated[
        Literal["config", "api"] | None,
        doc("where it is registered (null: nowhere, only the gateway reports it)"),
    ] = None
    network: Annotated[
        str, doc("how it is known on the LAN (MAC, host name, serial), as recorded by an admin")
    ] = ""
    vda: Annotated[VdaIdentity | None, doc("a VDA 5050 AGV's identity (registered robots)")] = None


class RobotCreated(RobotOut, kw_only=True):
    """The robot and its key, in hex: shown this once, never again (store it in the robot).

    ``null`` for MQTT and VDA 5050 robots: the broker login authenticates them, and the
    gateway gives them a key nobody knows, so nobody can say hello over TCP in their name."""

    key: Annotated[
        str | None,
        doc(
            "the robot's key in hex, shown this once: configure it in the robot (null: "
            "MQTT and VDA 5050 robots, which the broker login authenticates)"
        ),
    ]


class RobotUpdated(RobotOut, kw_only=True):
    """The robot as changed. A change of transport gives it a new key: shown this once when
    it is now a TCP robot, else ``null`` (a key nobody knows, as for a new MQTT robot)."""

    key: Annotated[
        str | None,
        doc(
            "a new key in hex, shown this once, when the transport changed to tcp (null: "
            "the key is unchanged, or the robot logs in to the broker)"
        ),
    ]


class RobotList(Struct, kw_only=True):
    items: Annotated[list[RobotOut], doc("every robot: registered, and any the gateway reports")]


class TelemetryEntry(Struct, kw_only=True):
    id: Annotated[str, doc("the sample's stream id")]
    sample: Annotated[TelemetryRecord, doc("the sample")]


class TelemetryQuery(Query):
    limit: Annotated[int, Meta(ge=1, le=1000), doc("samples at most")] = 100
    before: StreamIdStr | None = None  # page towards older samples


class TelemetryPage(Struct, kw_only=True):
    robot: Annotated[str, doc("whose samples")]
    items: Annotated[list[TelemetryEntry], doc("oldest first")]
    before: Annotated[
        str | None,
        doc("pass as `before` for the next older page; null when the scan reached the start"),
    ]
    scanned: Annotated[int, doc("rd:telemetry entries this page read")]


class _Args(Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class GotoArgs(_Args, frozen=True):
    x: Annotated[float | None, doc("metres on the floor plan (with y)", 3.5)] = None
    y: Annotated[float | None, doc("metres on the floor plan (with x)", 4.0)] = None
    table: Annotated[
        Annotated[str, Meta(min_length=1, max_length=64)] | None,
        doc("a table of `[floor]`, resolved to its x and y", "t1"),
    ] = None


class DockArgs(_Args, frozen=True):
    dock: Annotated[
        Annotated[str, Meta(min_length=1, max_length=64)] | None, doc("a dock of `[floor]`", "d1")
    ] = None


class CookArgs(_Args, frozen=True):
    recipe: Annotated[
        str,
        Meta(min_length=1, max_length=64),
        doc("the recipe id the cooking robots know", "ramen"),
    ]
    order: Annotated[str, Meta(max_length=64), doc("the order it is for, if any")] = ""
    item: Annotated[str, Meta(max_length=64), doc("the order line, if any")] = ""
    # how long to cook; the robot's own time for the recipe when not given (docs/protocol.md)
    seconds: Annotated[
        Annotated[float, Meta(gt=0, le=3600)] | None,
        doc("how long to cook; the robot's own time for the recipe when not given"),
    ] = None


class NoArgs(_Args, frozen=True):
    pass


TtlS = Annotated[float, Meta(gt=0, le=3600, description="fail the command if not delivered within")]


class _Cmd(Struct, tag_field="action", forbid_unknown_fields=True, kw_only=True):
    ttl_s: TtlS | None = None


class GotoCommand(_Cmd, tag="goto"):
    args: Annotated[GotoArgs, doc("where to: a table of `[floor]`, or x and y")]


class DockCommand(_Cmd, tag="dock"):
    args: Annotated[DockArgs, doc("which dock (default: the robot's own)")] = DockArgs()


class CookCommand(_Cmd, tag="cook"):
    args: Annotated[CookArgs, doc("what to cook")]


class CancelCommand(_Cmd, tag="cancel"):
    args: Annotated[NoArgs, doc("none")] = NoArgs()


class PauseCommand(_Cmd, tag="pause"):
    args: Annotated[NoArgs, doc("none")] = NoArgs()


class ResumeCommand(_Cmd, tag="resume"):
    args: Annotated[NoArgs, doc("none")] = NoArgs()


class EstopCommand(_Cmd, tag="estop"):
    args: Annotated[NoArgs, doc("none")] = NoArgs()


class ReleaseCommand(_Cmd, tag="release"):
    args: Annotated[NoArgs, doc("none")] = NoArgs()


class PickupDoneCommand(_Cmd, tag="pickup_done"):
    args: Annotated[NoArgs, doc("none")] = NoArgs()


CommandIn = (
    GotoCommand
    | DockCommand
    | CookCommand
    | CancelCommand
    | PauseCommand
    | ResumeCommand
    | EstopCommand
    | ReleaseCommand
    | PickupDoneCommand
)


CommandStatusName = Literal["queued", "sent", "acked", "failed", "expired"]
CommandId = Annotated[
    str,
    Meta(
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="the command's id, as `POST /api/robots/{robot_id}/commands` answered it",
        examples=["5f0c9a3e1b2d4c6e8a7b6c5d4e3f2a1b"],
    ),
]


class CommandPath(Query):
    robot_id: Annotated[RobotId, doc("the robot")]
    command_id: CommandId


class CommandWaitQuery(Query):
    wait: Annotated[
        float,
        Meta(
            ge=0,
            le=30,
            description="seconds to wait for the command to reach an outcome (acked, failed, "
            "expired) before answering; 0 answers at once",
            examples=[10],
        ),
    ] = 0.0


class CommandsQuery(Query):
    limit: Annotated[int, Meta(ge=1, le=200, description="commands per page")] = 50
    offset: Offset = 0


class CommandOut(Struct, kw_only=True):
    """One command and what became of it, from the gateway's outcome events."""

    command: Annotated[str, Meta(description="the command's id (`data.command` of its events)")]
    robot: Annotated[str, Meta(description="the robot it is for")]
    action: Annotated[str, Meta(description="what it asks", examples=["goto"])]
    args: Annotated[dict[str, Any], Meta(description="its arguments as the gateway got them")]
    source: Annotated[
        str, Meta(description="who asked: a username, an integration, or `dispatcher`")
    ]
    status: Annotated[
        CommandStatusName,
        Meta(
            description="queued (on rd:commands), sent (to the robot), acked (done), failed "
            "(refused, timed out, robot offline...), expired (its ttl passed before delivery)"
        ),
    ]
    attempts: Annotated[int, Meta(description="deliveries to the robot so far")]
    reason: Annotated[
        str | None,
        Meta(description="why it failed (`refused`, `timeout`, `robot_offline`, `expired`, ...)"),
    ] = None
    detail: Annotated[str | None, Meta(description="the robot's or gateway's words")] = None
    result: Annotated[Any, Meta(description="what the robot answered with its ack")] = None
    stream_id: Annotated[
        str | None, Meta(description="its rd:commands entry (null: the gateway's own command)")
    ] = None
    queued_at: Annotated[str, Meta(description="when it was queued (ISO 8601 UTC)")]
    sent_at: Annotated[str | None, Meta(description="when the gateway first sent it")] = None
    finished_at: Annotated[str | None, Meta(description="when it reached its outcome")] = None
    expires_at: Annotated[
        str | None, Meta(description="after this it fails as expired if not delivered")
    ] = None


class CommandPage(Struct, kw_only=True):
    items: Annotated[list[CommandOut], Meta(description="newest first")]
    total: Annotated[int, Meta(description="the robot's commands still kept")]


class CommandAccepted(Struct, kw_only=True):
    """Queued on rd:commands; the outcome is a command.acked / command.failed event."""

    command: Annotated[
        str,
        doc(
            "the command's id: its status is `GET /api/robots/{robot_id}/commands/{command}`, "
            "its events carry it as `data.command`"
        ),
    ]
    stream_id: Annotated[str, doc("its rd:commands entry")]
    robot: Annotated[str, doc("the robot it is for")]
    action: Annotated[str, doc("what it asks")]
    args: Annotated[
        dict[str, Any], doc("its arguments as the gateway gets them (named places resolved)")
    ]
    expires_at: Annotated[str, doc("it fails as expired if not delivered by then")]
    duplicate: Annotated[
        bool, doc("true when an `Idempotency-Key` repeated an earlier request")
    ] = False


class ActionOut(Struct, kw_only=True):
    action: Annotated[str, doc("a command's `action`", "goto")]
    needs_args: Annotated[
        bool, doc('`args` must be given (goto, cook); else `{"action": ...}` will do')
    ]


class RobotKindOut(Struct, kw_only=True):
    kind: Annotated[str, doc("`serving` or `cooking`", "serving")]
    actions: Annotated[
        list[ActionOut], doc("the commands a robot of this kind carries out, in a stable order")
    ]


class RobotKindList(Struct, kw_only=True):
    items: Annotated[list[RobotKindOut], doc("every robot kind")]


def _needs_args(cmd: type[Struct]) -> bool:
    return any(f.name == "args" and f.required for f in msgspec.structs.fields(cmd))


# action -> whether its command needs arguments, from the request models themselves
NEEDS_ARGS: dict[str, bool] = {
    str(cmd.__struct_config__.tag): _needs_args(cmd) for cmd in CommandIn.__args__
}
