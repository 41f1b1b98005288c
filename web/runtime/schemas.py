"""Request and answer models of /api/settings."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from msgspec import UNSET, Meta, Struct, UnsetType, field

from web.http.schemas import Request

RoomName = Annotated[str, Meta(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")]


class SettingsPatch(Request):
    """The settings to change; `null` puts one back to the config file's value."""

    escalate_after_s: Annotated[float, Meta(ge=0, le=86400)] | UnsetType | None = field(
        name="alarms.escalate_after_s", default=UNSET
    )
    escalate_room: RoomName | UnsetType | None = field(name="alarms.escalate_room", default=UNSET)
    battery_below: Annotated[float, Meta(ge=0, le=100)] | UnsetType | None = field(
        name="alarms.battery_below", default=UNSET
    )


class SettingOut(Struct, kw_only=True):
    key: str  # the config file's key it overrides
    value: Any  # in force now
    file_value: Any  # the config file's (or the default): what `null` puts back
    type: str  # number | string
    description: str
    minimum: float | None
    maximum: float | None
    choices: list[str] | None  # the values allowed, when they are a list
    updated_by: str | None  # who set the value in force; null: it is the file's
    updated_at: datetime | None


class SettingsOut(Struct, kw_only=True):
    items: list[SettingOut]
