"""The live web tier the API tests (role matrix, schemathesis) run against."""

from __future__ import annotations

from dataclasses import dataclass

from bench import webtier

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
