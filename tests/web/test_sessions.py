"""Sessions: logout ends one token everywhere (REST and sockets), a password change the rest."""

from __future__ import annotations

import asyncio
import time

import redis.asyncio as aioredis

from robodine.redisio.keys import DEFAULT
from tests.support.web import PASSWORD, MakeEnv, WebEnv, closed_with, recv_until
from web.http.revocations import Revocations
from web.keys import TOKENS
from web.security import Role


async def _me(env: WebEnv, token: str) -> int:
    r = await env.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    return r.status


async def _logout(env: WebEnv, token: str) -> int:
    r = await env.client.post("/api/auth/logout", headers={"Authorization": f"Bearer {token}"})
    return r.status


async def test_logout_ends_this_token_and_its_socket_only(env: WebEnv) -> None:
    first = env.tokens["staff"]
    second = await env.login("staff")  # another session of the same user
    ws_first = await env.ws("/ws/events", token=first)
    await recv_until(ws_first, "snapshot")
    ws_second = await env.ws("/ws/events", token=second)
    await recv_until(ws_second, "snapshot")
    assert await _me(env, first) == 200
    assert await _logout(env, first) == 204
    assert await _me(env, first) == 401
    assert await closed_with(ws_first) == 4001
    assert await _me(env, second) == 200, "the user's other sessions go on"
    r = await env.client.get("/api/robots", headers={"Authorization": f"Bearer {first}"})
    assert r.status == 401 and (await r.json())["code"] == "invalid_token"
    r = await env.client.get("/ws/events", params={"token": first})
    assert r.status == 401, "a socket cannot be opened with it either"
    await ws_second.send_json({"type": "ping"})
    assert (await recv_until(ws_second, "pong"))["type"] == "pong"
    await ws_second.close()


async def test_logout_is_idempotent_and_refuses_what_is_not_a_token(env: WebEnv) -> None:
    token = env.tokens["viewer"]
    assert await _logout(env, token) == 204
    assert await _logout(env, token) == 204, "an ended token: 204 again"
    expired, _ = env.app[TOKENS].make("viewer", Role.VIEWER, 1, now=time.time() - 10**5)
    assert await _logout(env, expired) == 204
    r = await env.client.post("/api/auth/logout", headers={"Authorization": "Bearer nonsense"})
    assert r.status == 401 and (await r.json())["code"] == "invalid_token"
    r = await env.client.post("/api/auth/logout")
    assert r.status == 401 and (await r.json())["code"] == "missing_token"
    score = await env.redis.zscore(DEFAULT.revoked, env.app[TOKENS].verify(env.tokens["admin"]).id)
    assert score is None, "only the token logged out is listed"
    assert await env.redis.zcard(DEFAULT.revoked) == 1


async def test_a_logout_reaches_every_web_process(make_env: MakeEnv, sqlite_url: str) -> None:
    a = await make_env(sqlite_url)
    b = await make_env(sqlite_url)
    token = await a.login("staff")
    on_b = await b.ws("/ws/events", token=token)
    await recv_until(on_b, "snapshot")
    assert await _logout(a, token) == 204
    assert await closed_with(on_b, timeout=10) == 4001
    assert await _me(b, token) == 401


async def test_a_password_change_needs_the_old_one_and_ends_the_other_sessions(
    make_env: MakeEnv,
) -> None:
    env = await make_env(web={"login_attempts_per_min": 3})
    old_token = env.tokens["staff"]
    other = await env.login("staff")
    ws = await env.ws("/ws/events", token=other)
    await recv_until(ws, "snapshot")
    headers = {"Authorization": f"Bearer {old_token}"}
    body = {"old_password": "not it", "new_password": "a brand new password"}
    r = await env.client.post("/api/auth/password", headers=headers, json=body)
    assert r.status == 403
    problem = await r.json()
    assert problem["code"] == "wrong_password" and problem["field"] == "old_password"
    assert await _me(env, old_token) == 200, "nothing changed"
    r = await env.client.post(
        "/api/auth/password",
        headers=headers,
        json={"old_password": PASSWORD, "new_password": "short"},
    )
    assert r.status == 422 and (await r.json())["field"] == "new_password"
    r = await env.client.post(
        "/api/auth/password",
        headers=headers,
        json={"old_password": PASSWORD, "new_password": "a brand new password"},
    )
    assert r.status == 200, await r.text()
    fresh = (await r.json())["token"]
    assert await _me(env, fresh) == 200
    assert await _me(env, old_token) == 401 and await _me(env, other) == 401
    assert await closed_with(ws) == 4001
    await env.login("staff", "a brand new password")
    r = await env.client.post("/api/auth/login", json={"username": "staff", "password": PASSWORD})
    assert r.status == 401


async def test_wrong_old_passwords_meet_the_login_limit(make_env: MakeEnv) -> None:
    env = await make_env(web={"login_attempts_per_min": 2})
    headers = env.auth("viewer")
    body = {"old_password": "guess", "new_password": "a brand new password"}
    answers = [
        await env.client.post("/api/auth/password", headers=headers, json=body) for _ in range(3)
    ]
    assert [a.status for a in answers] == [403, 403, 429]
    assert "Retry-After" in answers[-1].headers
    r = await env.client.post("/api/auth/login", json={"username": "viewer", "password": "x"})
    assert r.status == 429, "the same limiter as the logins"


async def test_the_list_is_merged_not_replaced(redis_client: aioredis.Redis) -> None:
    now = time.time()
    revoked = Revocations(clock=lambda: now)
    await revoked.revoke(redis_client, "a" * 32, now + 60)
    await redis_client.zadd(DEFAULT.revoked, {"b" * 32: now + 60, "c" * 32: now - 1})
    assert await revoked.refresh(redis_client) == ["b" * 32]
    await redis_client.delete(DEFAULT.revoked)  # Redis lost its data
    assert await revoked.refresh(redis_client) == []
    assert "a" * 32 in revoked and "b" * 32 in revoked and "c" * 32 not in revoked
    later = Revocations(clock=lambda: now + 120)
    await asyncio.sleep(0)
    assert await later.refresh(redis_client) == [] and len(later) == 0
