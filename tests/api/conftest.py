"""One live web tier for the API tests: `robodine web` as a process on its own Redis and
SQLite file (started the benchmark's way), with a user of each role logged in."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from bench import webtier
from bench.harness import Context
from robodine.testing.servers import RedisServer

PASSWORD = "api-test-password-0123"

# Operations that end the token they are called with (a logout, a password change): the
# tests call them with a token of their own, so the shared tokens stay good for the rest.
SESSION_ENDING = frozenset({("POST", "/api/auth/logout"), ("POST", "/api/auth/password")})


@dataclass
class Live:
    port: int
    tokens: dict[str, str]  # role -> a token of a user of that role
    users: dict[str, str]  # role -> that user's name

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fresh_token(self, role: str) -> str:
        """A new login of the role's user, for a call that may end its token."""
        password = webtier.PASSWORD if role == "admin" else PASSWORD
        return webtier.login(self.port, self.users[role], password)


@pytest.fixture(scope="package")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    workdir = tmp_path_factory.mktemp("api")
    redis = RedisServer(aof=False)
    redis.start()
    ctx = Context("api", quick=True, workdir=workdir, progress=lambda _: None)
    try:
        # configured as a box would be: the analysis webhook has its secret (else it is 503)
        ports = ctx.config(3, redis.url, {"jobs": {"webhook_secret": "w" * 40}})
        ctx.web(ports)  # with the admin user webtier.USER
        admin = webtier.login(ports.web)
        users = {"admin": webtier.USER, "staff": "api-staff", "viewer": "api-viewer"}
        for role in ("staff", "viewer"):
            webtier.request(
                ports.web,
                "POST",
                "/api/users",
                {"username": users[role], "password": PASSWORD, "role": role},
                token=admin,
            )
        tokens = {
            "admin": admin,
            **{
                role: webtier.login(ports.web, users[role], PASSWORD)
                for role in ("staff", "viewer")
            },
        }
        yield Live(ports.web, tokens, users)
    finally:
        ctx.close()
        redis.close()
