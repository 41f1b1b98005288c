"""Every route of the OpenAPI document, called as every role and anonymously: the roles its
``x-roles`` lists get past the gate, the others get 403, anonymous gets 401 (docs/api.md:
roles gate every route that needs a login; the gate comes before the body is read)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.chaos.probes import record
from tests.support.api import SESSION_ENDING, Live

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROLES = ("admin", "staff", "viewer", "anonymous")
DUMMY = {"integer": "1", "number": "1"}  # a path value of its type; strings get "x"
REAL = {"topic": "events", "room": "kitchen"}  # names the gate checks are real


def _path(path: str, params: list[dict[str, Any]]) -> str:
    for p in params:
        if p["in"] == "path":
            kind = p.get("schema", {}).get("type", "string")
            value = REAL.get(p["name"]) or DUMMY.get(kind, "x")
            path = path.replace("{" + p["name"] + "}", value)
    return path


async def _status(
    http: aiohttp.ClientSession,
    live: Live,
    method: str,
    path: str,
    role: str,
    token: str | None = None,
) -> int:
    token = token or live.tokens.get(role)
    headers = {} if role == "anonymous" else {"Authorization": f"Bearer {token}"}
    async with http.request(
        method, live.url + path, headers=headers, json=None, allow_redirects=False
    ) as resp:
        return resp.status  # the body is never read: a feed would stream on


async def test_every_route_times_every_role(live: Live) -> None:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
        async with http.get(live.url + "/api/openapi.json") as resp:
            doc = await resp.json()
        cases = []
        for path, ops in doc["paths"].items():
            for method, op in ops.items():
                roles = op.get("x-roles")  # absent: a public route
                url = _path(path, op.get("parameters", []))
                cases += [(method.upper(), path, url, role, roles) for role in ROLES]
        own = {  # a token of its own for each call that may end it
            i: await asyncio.to_thread(live.fresh_token, role)
            for i, (m, path, _, role, _) in enumerate(cases)
            if (m, path) in SESSION_ENDING and role != "anonymous"
        }
        statuses = await asyncio.gather(
            *(
                _status(http, live, m, url, role, own.get(i))
                for i, (m, _, url, role, _) in enumerate(cases)
            )
        )
    wrong = []
    for (method, path, _, role, roles), status in zip(cases, statuses, strict=True):
        if status >= 500:
            wrong.append(f"{method} {path} as {role}: {status}")
        elif roles is None:
            continue  # public: whatever its own rules say, never a 5xx
        elif role == "anonymous":
            if status != 401:
                wrong.append(f"{method} {path} anonymous: {status}, not 401")
        elif role in roles:
            if status in (401, 403):
                wrong.append(f"{method} {path} as {role} ({roles}): {status}")
        elif status != 403:
            wrong.append(f"{method} {path} as {role} (only {roles}): {status}, not 403")
    record(
        "role matrix",
        "every operation of the OpenAPI document as admin, staff, viewer and anonymous",
        f"{len(cases) // len(ROLES)} operations",
        "x-roles pass the gate, other roles 403, anonymous 401",
        kind="api",
        cases=len(cases),
        failures=len(wrong),
    )
    assert len(cases) > 200  # the whole API, not an empty document
    assert wrong == [], "\n".join(wrong)
