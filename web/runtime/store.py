"""The settings safe to change while running: the config file's value unless an admin set one.

Only settings that every reader looks up each time they act are here (the
alarm escalation and battery checks read them once per check), so a change
needs no restart and no signal. Values an admin set are rows of
``runtime_settings``; each web process reads them at most every ``cache_s``
seconds, so a change made through another process applies within that.
Gateway settings are not here: the gateway reads its settings at start.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import msgspec
import orjson
from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from config import Settings
from web.db.alarms import RuntimeSetting
from web.db.models import utcnow
from web.db.session import transaction
from web.http.problems import Problem
from web.keys import DB, SETTINGS
from web.runtime.schemas import SettingOut, SettingsPatch


@dataclass(frozen=True)
class Knob:
    key: str  # the config key it overrides, "section.name"
    type: str  # JSON type: "number" or "string"
    description: str
    file_value: Callable[[Settings], Any]
    minimum: float | None = None
    maximum: float | None = None
    choices: Callable[[Settings], list[str]] | None = None


KNOBS: tuple[Knob, ...] = (
    Knob(
        "alarms.escalate_after_s",
        "number",
        "An alarm nobody acknowledged for this many seconds is posted to the escalation "
        "room (0: never)",
        lambda s: s.alarms.escalate_after_s,
        0,
        86400,
    ),
    Knob(
        "alarms.escalate_room",
        "string",
        "The chat room unacknowledged alarms are posted to",
        lambda s: s.alarms.escalate_room,
        choices=lambda s: [r.name for r in s.chat.rooms],
    ),
    Knob(
        "alarms.battery_below",
        "number",
        "A robot whose battery is below this percentage raises a low-battery alarm",
        lambda s: s.alarms.battery_below,
        0,
        100,
    ),
)
BY_KEY = {k.key: k for k in KNOBS}


class RuntimeSettings:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], settings: Settings, cache_s: float = 2.0
    ) -> None:
        self.db, self.settings, self.cache_s = db, settings, cache_s
        self._rows: dict[str, RuntimeSetting] = {}
        self._read_at = -1e9

    async def _overrides(self) -> dict[str, RuntimeSetting]:
        if time.monotonic() - self._read_at > self.cache_s:
            async with self.db() as s:
                rows = (await s.scalars(select(RuntimeSetting))).all()
            self._rows = {r.key: r for r in rows if r.key in BY_KEY}
            self._read_at = time.monotonic()
        return self._rows

    async def value(self, key: str) -> Any:
        knob = BY_KEY[key]
        row = (await self._overrides()).get(key)
        return knob.file_value(self.settings) if row is None else orjson.loads(row.value)

    async def items(self) -> list[SettingOut]:
        rows = await self._overrides()
        out = []
        for k in KNOBS:
            row = rows.get(k.key)
            file_value = k.file_value(self.settings)
            out.append(
                SettingOut(
                    key=k.key,
                    value=file_value if row is None else orjson.loads(row.value),
                    file_value=file_value,
                    type=k.type,
                    description=k.description,
                    minimum=k.minimum,
                    maximum=k.maximum,
                    choices=k.choices(self.settings) if k.choices else None,
                    updated_by=row.updated_by if row is not None else None,
                    updated_at=row.updated_at if row is not None else None,
                )
            )
        return out

    async def update(self, patch: SettingsPatch, user: str) -> dict[str, Any]:
        """Apply what the patch names (null: back to the config file's value); the changes."""
        changes = {
            BY_KEY_BY_ATTR[name]: value
            for name, value in msgspec.structs.asdict(patch).items()
            if value is not msgspec.UNSET
        }
        for key, value in changes.items():
            knob = BY_KEY[key]
            if value is not None and knob.choices is not None:
                allowed = knob.choices(self.settings)
                if value not in allowed:
                    raise Problem(
                        422,
                        "invalid_field",
                        f"body: {key} must be one of {', '.join(allowed)}",
                        field=key,
                        extra={"in": "body"},
                    )
        now: datetime = utcnow()
        async with transaction(self.db) as s:
            for key, value in changes.items():
                row = await s.get(RuntimeSetting, key)
                if value is None:
                    if row is not None:
                        await s.delete(row)
                elif row is None:
                    s.add(
                        RuntimeSetting(
                            key=key,
                            value=orjson.dumps(value).decode(),
                            updated_by=user,
                            updated_at=now,
                        )
                    )
                else:
                    row.value, row.updated_by, row.updated_at = (
                        orjson.dumps(value).decode(),
                        user,
                        now,
                    )
        self._read_at = -1e9  # this process sees its own change at once
        return changes


RUNTIME = web.AppKey("runtime_settings", RuntimeSettings)  # one per process: its cache


async def runtime_ctx(app: web.Application) -> AsyncIterator[None]:
    """After the database: the process's RuntimeSettings (routes and the alarm checks)."""
    settings = app[SETTINGS]
    app[RUNTIME] = RuntimeSettings(app[DB], settings, settings.web.auth_cache_s)
    yield


def _attrs() -> dict[str, str]:
    return {f.name: f.encode_name for f in msgspec.structs.fields(SettingsPatch)}


BY_KEY_BY_ATTR = _attrs()  # SettingsPatch attribute -> the setting's key
assert set(BY_KEY_BY_ATTR.values()) == set(BY_KEY), "SettingsPatch and KNOBS must agree"
