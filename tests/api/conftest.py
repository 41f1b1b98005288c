"""One live web tier for the API tests: `robodine web` as a process on its own Redis and
SQLite file (started the benchmark's way), with a user of each role logged in."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench import webtier
from bench.harness import Context
from robodine.testing.servers import RedisServer
from tests.support.api import PASSWORD, Live


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
