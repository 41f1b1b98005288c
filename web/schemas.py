"""Request and response models of the REST API: they validate and they make the OpenAPI document.

Request bodies forbid unknown fields (a typo is a 422 naming the field, not a
silent default). Times in REST bodies are ISO 8601 UTC strings; stream
records keep their float ``ts`` as the gateway wrote it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, Struct, UnsetType

from protocol.streams import EventRecord, Level, RobotSnapshot, TelemetryRecord

Username = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,31}$",
        min_length=1,
        max_length=32,
        description="lowercase letters, digits, . _ -; up to 32",
    ),
]
Password = Annotated[str, Meta(min_length=8, max_length=1024)]
RoleName = Literal["admin", "staff", "viewer"]
RobotId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
StreamIdStr = Annotated[
    str,
    Meta(
        pattern=r"^\d{1,20}(-\d{1,20})?$", description="a stream id `ms-seq` (or a Unix time in ms)"
    ),
]
AwareDatetime = Annotated[datetime, Meta(tz=True)]


class Request(Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class Query(Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class ProblemOut(Struct, kw_only=True):
    """application/problem+json (RFC 9457) with our ``code`` and the wrong ``field``."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    field: str | None = None
    instance: str | None = None


# ---- health ---------------------------------------------------------------------


class HealthOut(Struct, kw_only=True):
    status: Literal["ok"]
    server: str
    session: str


class ReadyOut(Struct, kw_only=True):
    status: Literal["ready", "not_ready"]
    redis: str
    database: str
    hub: str


# ---- auth and users -------------------------------------------------------------


class LoginIn(Request):
    username: Annotated[str, Meta(min_length=1, max_length=64)]
    password: Annotated[str, Meta(min_length=1, max_length=1024)]


class TokenOut(Struct, kw_only=True):
    token: str
    expires_at: str
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name, not a secret
    username: str
    role: RoleName


class MeOut(Struct, kw_only=True):
    username: str
    role: RoleName
    expires_at: str


class UserOut(Struct, kw_only=True):
    username: str
    role: RoleName
    disabled: bool
    created_at: datetime
    updated_at: datetime


class UserIn(Request):
    username: Username
    password: Password
    role: RoleName


class UserPatch(Request):
    role: RoleName | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    disabled: bool | UnsetType = UNSET


class UserPath(Query):
    username: Username


class UserList(Struct, kw_only=True):
    items: list[UserOut]


# ---- robots, telemetry, events, commands ------------------------------------------


class RobotPath(Query):
    robot_id: RobotId


class RobotIn(Request):
    """A robot registered through the API; its key is made by the server and shown once."""

    id: RobotId
    kind: Literal["serving", "cooking"]
    name: Annotated[str, Meta(max_length=100)] = ""
    network: Annotated[str, Meta(max_length=128)] = ""  # MAC, host name or serial, for people


class RobotOut(RobotSnapshot, kw_only=True, omit_defaults=False):
    """The gateway's snapshot (rd:robot:{id}) merged with the registry.

    Every field is present (``null`` when unknown): ``omit_defaults`` of the
    snapshot is for the Redis hash, not for clients.
    """

    registered: bool  # in the registry: the config's [[robots]] or added through the API
    source: Literal["config", "api"] | None = None  # where it is registered
    network: str = ""  # how it is known on the LAN (MAC, host name, serial), if recorded


class RobotCreated(RobotOut, kw_only=True):
    """The robot and its key, in hex: shown this once, never again (store it in the robot)."""

    key: str


class RobotList(Struct, kw_only=True):
    items: list[RobotOut]


class TelemetryEntry(Struct, kw_only=True):
    id: str  # stream id
    sample: TelemetryRecord


class EventEntry(Struct, kw_only=True):
    id: str  # stream id
    event: EventRecord


class TelemetryQuery(Query):
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100
    before: StreamIdStr | None = None  # page towards older samples


class TelemetryPage(Struct, kw_only=True):
    robot: str
    items: list[TelemetryEntry]  # oldest first
    before: (
        str | None
    )  # pass as `before` for the next older page; null when the scan reached the start
    scanned: int


class EventsQuery(Query):
    robot: list[RobotId] = []
    type: list[Annotated[str, Meta(pattern=r"^[a-z0-9_.]+\*?$", max_length=64)]] = []
    level: list[Level] = []
    since: StreamIdStr | None = None  # entries after this id, oldest first
    before: StreamIdStr | None = None  # entries before this id (default: the newest)
    limit: Annotated[int, Meta(ge=1, le=1000)] = 100


class EventsPage(Struct, kw_only=True):
    items: list[EventEntry]  # oldest first
    next: str | None  # pass as `since` to continue forward (also to poll for new events)
    before: str | None  # pass as `before` for older events; null at the start of the stream
    scanned: int  # entries read to fill the page (filters may skip many)


class _Args(Struct, forbid_unknown_fields=True, kw_only=True, frozen=True):
    pass


class GotoArgs(_Args, frozen=True):
    x: float | None = None
    y: float | None = None
    table: Annotated[str, Meta(min_length=1, max_length=64)] | None = None  # resolved via [floor]


class DockArgs(_Args, frozen=True):
    dock: Annotated[str, Meta(min_length=1, max_length=64)] | None = None


class CookArgs(_Args, frozen=True):
    recipe: Annotated[str, Meta(min_length=1, max_length=64)]
    order: Annotated[str, Meta(max_length=64)] = ""
    item: Annotated[str, Meta(max_length=64)] = ""


class NoArgs(_Args, frozen=True):
    pass


TtlS = Annotated[float, Meta(gt=0, le=3600, description="fail the command if not delivered within")]


class _Cmd(Struct, tag_field="action", forbid_unknown_fields=True, kw_only=True):
    ttl_s: TtlS | None = None


class GotoCommand(_Cmd, tag="goto"):
    args: GotoArgs


class DockCommand(_Cmd, tag="dock"):
    args: DockArgs = DockArgs()


class CookCommand(_Cmd, tag="cook"):
    args: CookArgs


class CancelCommand(_Cmd, tag="cancel"):
    args: NoArgs = NoArgs()


class PauseCommand(_Cmd, tag="pause"):
    args: NoArgs = NoArgs()


class ResumeCommand(_Cmd, tag="resume"):
    args: NoArgs = NoArgs()


class EstopCommand(_Cmd, tag="estop"):
    args: NoArgs = NoArgs()


class ReleaseCommand(_Cmd, tag="release"):
    args: NoArgs = NoArgs()


class PickupDoneCommand(_Cmd, tag="pickup_done"):
    args: NoArgs = NoArgs()


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


class CommandAccepted(Struct, kw_only=True):
    """Queued on rd:commands; the outcome is a command.acked / command.failed event."""

    command: str  # the CommandRecord id; events carry it as data.command
    stream_id: str
    robot: str
    action: str
    args: dict[str, Any]
    expires_at: str
    duplicate: bool = False  # true when an Idempotency-Key repeated an earlier request


# ---- todos ----------------------------------------------------------------------

Title = Annotated[str, Meta(min_length=1, max_length=200)]
Notes = Annotated[str, Meta(max_length=4000)]


class TodoIn(Request):
    title: Title
    notes: Notes = ""
    assignee: Username | None = None
    due_at: AwareDatetime | None = None
    done: bool = False


class TodoPatch(Request):
    title: Title | UnsetType = UNSET
    notes: Notes | UnsetType = UNSET
    assignee: Username | UnsetType | None = UNSET
    due_at: AwareDatetime | UnsetType | None = UNSET
    done: bool | UnsetType = UNSET
    version: int | UnsetType = UNSET  # when given, the update fails with 409 if the todo changed


class TodoOut(Struct, kw_only=True):
    id: int
    title: str
    notes: str
    done: bool
    assignee: str | None
    due_at: datetime | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    version: int


class TodoPath(Query):
    todo_id: Annotated[int, Meta(ge=1)]


class TodosQuery(Query):
    done: bool | None = None
    assignee: Username | None = None
    limit: Annotated[int, Meta(ge=1, le=1000)] = 500
    offset: Annotated[int, Meta(ge=0)] = 0


class TodoList(Struct, kw_only=True):
    items: list[TodoOut]
    total: int


# ---- topics -------------------------------------------------------------------------


class TopicOut(Struct, kw_only=True):
    name: str
    websocket: str
    sse: str | None
    delivery: str
    summary: str
    params: dict[str, Any]  # JSON schema of the query parameters (filters)
    frames: dict[str, Any]  # JSON schema of the frames (a oneOf by "type")


class TopicsOut(Struct, kw_only=True):
    topics: list[TopicOut]
    components: dict[str, Any]  # schemas the $refs above point to


def schema(tp: Any) -> dict[str, Any]:
    return msgspec.json.schema(tp)
