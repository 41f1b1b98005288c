"""Request and answer models of login, tokens and user accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from web.http.schemas import Password, Query, Request, RoleName, Username

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


class PasswordIn(Request):
    old_password: Annotated[
        str, Meta(min_length=1, max_length=1024, description="the password in use now")
    ]
    new_password: Annotated[
        str,
        Meta(
            min_length=1,
            max_length=1024,
            description="the new password: at least `web.password_min_length` characters",
        ),
    ]


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
