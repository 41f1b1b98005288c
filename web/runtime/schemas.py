"""Request and answer models of /api/settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType, field

from web.http.schemas import Request, doc

RoomName = Annotated[
    str,
    Meta(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$",
        description="the chat room unacknowledged alarms are posted to: one of `chat.rooms` "
        "(else 422); null: the config file's",
        examples=["ops"],
    ),
]


class SettingsPatch(Request):
    """The settings to change; `null` puts one back to the config file's value."""

    escalate_after_s: (
        Annotated[
            float,
            Meta(
                ge=0,
                le=86400,
                description="seconds an alarm may wait for an acknowledgement before it is "
                "posted to the escalation room (0: never); null: the config file's",
                examples=[300],
            ),
        ]
        | UnsetType
        | None
    ) = field(name="alarms.escalate_after_s", default=UNSET)
    escalate_room: RoomName | UnsetType | None = field(name="alarms.escalate_room", default=UNSET)
    battery_below: (
        Annotated[
            float,
            Meta(
                ge=0,
                le=100,
                description="battery percentage below which a robot raises a low-battery "
                "alarm; null: the config file's",
                examples=[20],
            ),
        ]
        | UnsetType
        | None
    ) = field(name="alarms.battery_below", default=UNSET)


class SettingOut(Struct, kw_only=True):
    key: Annotated[str, doc("the config file's key it overrides", "alarms.battery_below")]
    value: Annotated[Any, doc("the value in force now", 20)]
    file_value: Annotated[
        Any, doc("the config file's value (or the default): what `null` puts back", 15)
    ]
    type: Annotated[str, doc("the value's JSON type: `number` or `string`", "number")]
    description: Annotated[str, doc("what the setting does")]
    minimum: Annotated[float | None, doc("the lowest value allowed; null: no bound")]
    maximum: Annotated[float | None, doc("the highest value allowed; null: no bound")]
    choices: Annotated[list[str] | None, doc("the values allowed, when they are a list; else null")]
    updated_by: Annotated[
        str | None, doc("who set the value in force; null: it is the config file's")
    ]
    updated_at: Annotated[datetime | None, doc("when it was set; null: it is the config file's")]


class SettingsOut(Struct, kw_only=True):
    items: Annotated[list[SettingOut], doc("every setting that may change while running")]
