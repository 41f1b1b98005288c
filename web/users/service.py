"""User accounts: create, change, remove; shared by the REST routes and `robodine users`."""

from __future__ import annotations

import re
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from web.db.models import User
from web.db.session import transaction
from web.http.problems import Problem, not_found
from web.http.schemas import RoleName
from web.security import Passwords, Role
from web.users.schemas import UserOut, UserPatch

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,31}$")


def user_out(u: User) -> UserOut:
    return UserOut(
        username=u.username,
        role=cast(RoleName, u.role),  # the CHECK constraint holds it to the three
        disabled=u.disabled,
        created_at=u.created_at,
        updated_at=u.updated_at,
    )


def check_password(password: str, min_length: int) -> None:
    if len(password) < min_length:
        raise Problem(
            422, "invalid_field", f"password: at least {min_length} characters", field="password"
        )
    if len(password) > 1024:
        raise Problem(422, "invalid_field", "password: at most 1024 characters", field="password")


class UserService:
    def __init__(
        self, db: async_sessionmaker[AsyncSession], passwords: Passwords, min_password_length: int
    ) -> None:
        self.db, self.passwords, self.min_length = db, passwords, min_password_length

    async def create(self, username: str, password: str, role: Role) -> UserOut:
        if not USERNAME.match(username):
            raise Problem(
                422,
                "invalid_field",
                "username: lowercase letters, digits, . _ - (up to 32)",
                field="username",
            )
        check_password(password, self.min_length)
        hashed = await self.passwords.hash(password)
        try:
            async with transaction(self.db) as s:
                u = User(
                    username=username,
                    password_hash=hashed,
                    role=str(role),
                    disabled=False,
                    token_version=1,
                )
                s.add(u)
                await s.flush()
                return user_out(u)
        except IntegrityError:
            raise Problem(
                409, "conflict", f"user {username!r} already exists", field="username"
            ) from None

    async def list(self) -> list[UserOut]:
        async with self.db() as s:
            return [user_out(u) for u in (await s.scalars(select(User).order_by(User.username)))]

    async def get(self, username: str) -> UserOut:
        async with self.db() as s:
            u = await s.scalar(select(User).where(User.username == username))
        if u is None:
            raise not_found("user", username)
        return user_out(u)

    async def update(
        self, username: str, patch: UserPatch, *, acting: str | None = None
    ) -> UserOut:
        hashed = None
        if isinstance(patch.password, str):
            check_password(patch.password, self.min_length)
            hashed = await self.passwords.hash(patch.password)
        async with transaction(self.db) as s:
            u = await s.scalar(select(User).where(User.username == username).with_for_update())
            if u is None:
                raise not_found("user", username)
            demote = isinstance(patch.role, str) and patch.role != "admin"
            disable = patch.disabled is True
            if u.role == "admin" and (demote or disable):
                await self._keep_an_admin(s, u, acting)
            if hashed is not None:
                u.password_hash = hashed
            if isinstance(patch.role, str):
                u.role = patch.role
            if isinstance(patch.disabled, bool):
                u.disabled = patch.disabled
            u.token_version += 1  # every change ends the tokens issued before it
            await s.flush()
            await s.refresh(u)
            return user_out(u)

    async def delete(self, username: str, *, acting: str | None = None) -> None:
        async with transaction(self.db) as s:
            u = await s.scalar(select(User).where(User.username == username).with_for_update())
            if u is None:
                raise not_found("user", username)
            if u.role == "admin":
                await self._keep_an_admin(s, u, acting)
            await s.delete(u)

    async def _keep_an_admin(self, s: AsyncSession, u: User, acting: str | None) -> None:
        others = await s.scalar(
            select(func.count())
            .select_from(User)
            .where(User.role == "admin", User.disabled.is_(False), User.id != u.id)
        )
        if not others:
            raise Problem(
                409, "last_admin", f"{u.username!r} is the last active admin", field="role"
            )

    async def rehash_if_needed(self, username: str, password: str, stored: str) -> None:
        """Upgrade a hash made with older argon2 parameters, after a successful login."""
        if not self.passwords.needs_rehash(stored):
            return
        hashed = await self.passwords.hash(password)
        async with transaction(self.db) as s:
            u = await s.scalar(select(User).where(User.username == username))
            if u is not None and u.password_hash == stored:
                u.password_hash = hashed
