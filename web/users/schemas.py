"""Request and answer models of login, tokens and user accounts."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import UNSET, Meta, Struct, UnsetType

from web.http.schemas import Password, Query, Request, RoleName, Username, doc

# ---- auth and users -------------------------------------------------------------


class LoginIn(Request):
    username: Annotated[
        str,
        Meta(min_length=1, max_length=64),
        doc("the user's name (case and outer spaces ignored)", "alice"),
    ]
    password: Annotated[str, Meta(min_length=1, max_length=1024), doc("the user's password")]


class TokenOut(Struct, kw_only=True):
    token: Annotated[str, doc("send it as `Authorization: Bearer <token>` (feeds: also `?token=`)")]
    expires_at: Annotated[
        str,
        doc(
            "when it stops working (`web.token_ttl_s` after it was made)",
            "2026-11-22T18:00:00.000Z",
        ),
    ]
    token_type: Annotated[Literal["Bearer"], doc("always `Bearer`")] = "Bearer"  # noqa: S105
    username: Annotated[str, doc("whose it is")]
    role: Annotated[RoleName, doc("their role now")]


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
    username: Annotated[str, doc("whose the token is (an integration's: `integration:<name>`)")]
    role: Annotated[RoleName, doc("their role now")]
    expires_at: Annotated[str, doc("when the token stops working")]


class UserOut(Struct, kw_only=True):
    username: Annotated[str, doc("the login name")]
    role: Annotated[RoleName, doc("what they may do")]
    disabled: Annotated[bool, doc("true: they cannot log in, their tokens are void")]
    created_at: Annotated[datetime, doc("when the user was made")]
    updated_at: Annotated[datetime, doc("their last change")]


class UserIn(Request):
    username: Username
    password: Annotated[Password, doc("at least `web.password_min_length` characters")]
    role: Annotated[RoleName, doc("what they may do")]


class UserPatch(Request):
    role: Annotated[
        RoleName | UnsetType, doc("a new role (the last active admin keeps theirs)")
    ] = UNSET
    password: Annotated[Password | UnsetType, doc("a new password; their tokens end")] = UNSET
    disabled: Annotated[bool | UnsetType, doc("true: they cannot log in and their tokens end")] = (
        UNSET
    )


class UserPath(Query):
    username: Username


class UserList(Struct, kw_only=True):
    items: Annotated[list[UserOut], doc("every user, by name")]
