"""Users, roles, tokens on SQLite and PostgreSQL: every refusal is a clear 4xx."""

from __future__ import annotations

import time
from typing import Any

import jwt
import pytest

from tests.support.web import PASSWORD, SECRET, MakeEnv, WebEnv
from web.keys import LOGIN_LIMITER


@pytest.fixture
async def denv(make_env: MakeEnv, any_db_url: str) -> WebEnv:
    return await make_env(any_db_url)


async def test_login_answers_a_bearer_token_with_its_expiry(denv: WebEnv) -> None:
    r = await denv.client.post("/api/auth/login", json={"username": "staff", "password": PASSWORD})
    assert r.status == 200
    body = await r.json()
    assert set(body) >= {"token", "expires_at"} and body["role"] == "staff"
    claims = jwt.decode(body["token"], SECRET, algorithms=["HS256"])
    assert claims["sub"] == "staff" and claims["exp"] > time.time() + 3600
    assert body["expires_at"].endswith("Z")
    r = await denv.client.get("/api/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert (await r.json())["username"] == "staff"


@pytest.mark.parametrize(
    ("username", "password"),
    [
        ("staff", "wrong password"),
        ("nobody", PASSWORD),
        ("STAFF", "nope"),
    ],
)
async def test_bad_credentials_are_401_and_say_nothing_more(
    denv: WebEnv, username: str, password: str
) -> None:
    r = await denv.client.post("/api/auth/login", json={"username": username, "password": password})
    assert r.status == 401
    body = await r.json()
    assert body["code"] == "invalid_credentials" and body["detail"] == "wrong username or password"


async def test_usernames_are_case_insensitive_at_login(denv: WebEnv) -> None:
    r = await denv.client.post("/api/auth/login", json={"username": "Staff", "password": PASSWORD})
    assert r.status == 200


def forged(claims: dict[str, Any], key: str = SECRET, alg: str = "HS256") -> str:
    base = {
        "iss": "robodine",
        "sub": "admin",
        "role": "admin",
        "ver": 1,
        "iat": int(time.time()),
        # Built when the module is collected, checked minutes later in a full
        # run: a short expiry would turn every case into token_expired.
        "exp": time.time() + 24 * 3600,
    }
    return jwt.encode({**base, **claims}, key, algorithm=alg)


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("Bearer", "invalid_token"),
        ("Basic YWRtaW46cGFzcw==", "invalid_token"),
        ("Bearer not.a.jwt", "invalid_token"),
        ("Bearer " + forged({}, key="another-secret-" + "x" * 60), "invalid_token"),
        ("Bearer " + forged({"exp": time.time() - 5}), "token_expired"),
        ("Bearer " + forged({"iss": "someone-else"}), "invalid_token"),
        ("Bearer " + forged({"sub": "ghost"}), "invalid_token"),
        ("Bearer " + forged({"ver": 99}), "invalid_token"),
        ("Bearer " + forged({"role": "overlord"}), "invalid_token"),
        ("Bearer " + forged({}, alg="HS512"), "invalid_token"),
    ],
)
async def test_bad_tokens_are_401(denv: WebEnv, header: str | None, code: str) -> None:
    headers = {"Authorization": header} if header else {}
    r = await denv.client.get("/api/robots", headers=headers)
    assert r.status == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert (await r.json())["code"] == code


async def test_none_algorithm_token_is_refused(denv: WebEnv) -> None:
    token = jwt.encode(
        {
            "iss": "robodine",
            "sub": "admin",
            "role": "admin",
            "ver": 1,
            "iat": int(time.time()),
            "exp": time.time() + 60,
        },
        "",  # alg "none" signs with no key: PyJWT reads "" as None (typed str | bytes | ...)
        algorithm="none",
    )
    r = await denv.client.get("/api/robots", headers={"Authorization": f"Bearer {token}"})
    assert r.status == 401


async def test_query_tokens_only_for_streams(denv: WebEnv) -> None:
    r = await denv.client.get("/api/robots", params={"token": denv.tokens["admin"]})
    assert r.status == 401


async def test_user_management_needs_admin(denv: WebEnv) -> None:
    for who in ("staff", "viewer"):
        r = await denv.client.get("/api/users", headers=denv.auth(who))
        assert r.status == 403
        assert (await r.json())["code"] == "forbidden"
    r = await denv.client.post(
        "/api/users",
        headers=denv.auth("admin"),
        json={"username": "cook", "password": "a long password", "role": "staff"},
    )
    assert r.status == 201
    assert (await r.json())["username"] == "cook"
    r = await denv.client.post(
        "/api/users",
        headers=denv.auth("admin"),
        json={"username": "cook", "password": "a long password", "role": "staff"},
    )
    assert r.status == 409 and (await r.json())["field"] == "username"
    r = await denv.client.get("/api/users", headers=denv.auth("admin"))
    assert [u["username"] for u in (await r.json())["items"]] == [
        "admin",
        "cook",
        "staff",
        "viewer",
    ]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"username": "Bob", "password": "a long password", "role": "staff"}, "username"),
        ({"username": "bob", "password": "short", "role": "staff"}, "password"),
        ({"username": "bob", "password": "a long password", "role": "root"}, "role"),
        (
            {"username": "bob", "password": "a long password", "role": "staff", "admin": True},
            "admin",
        ),
    ],
)
async def test_invalid_users_are_422(denv: WebEnv, body: dict[str, Any], field: str) -> None:
    r = await denv.client.post("/api/users", headers=denv.auth("admin"), json=body)
    assert r.status == 422
    assert (await r.json())["field"] == field


async def test_password_policy_uses_the_setting(make_env: MakeEnv) -> None:
    env = await make_env(web={"password_min_length": 16})
    r = await env.client.post(
        "/api/users",
        headers=env.auth("admin"),
        json={"username": "bob", "password": "only12chars!", "role": "staff"},
    )
    assert r.status == 422 and (await r.json())["field"] == "password"


async def test_a_role_change_ends_old_tokens_and_applies_at_once(denv: WebEnv) -> None:
    old = denv.auth("staff")
    r = await denv.client.patch(
        "/api/users/staff", headers=denv.auth("admin"), json={"role": "viewer"}
    )
    assert r.status == 200 and (await r.json())["role"] == "viewer"
    r = await denv.client.get("/api/auth/me", headers=old)
    assert r.status == 401
    await denv.login("staff")
    r = await denv.client.post("/api/todos", headers=denv.auth("staff"), json={"title": "t"})
    assert r.status == 403


async def test_disabled_users_cannot_log_in(denv: WebEnv) -> None:
    r = await denv.client.patch(
        "/api/users/viewer", headers=denv.auth("admin"), json={"disabled": True}
    )
    assert r.status == 200
    r = await denv.client.post("/api/auth/login", json={"username": "viewer", "password": PASSWORD})
    assert r.status == 401


async def test_the_last_admin_stays(denv: WebEnv) -> None:
    r = await denv.client.patch(
        "/api/users/admin", headers=denv.auth("admin"), json={"role": "staff"}
    )
    assert r.status == 409 and (await r.json())["code"] == "last_admin"
    r = await denv.client.delete("/api/users/admin", headers=denv.auth("admin"))
    assert r.status == 409
    r = await denv.client.delete("/api/users/viewer", headers=denv.auth("admin"))
    assert r.status == 204
    r = await denv.client.delete("/api/users/viewer", headers=denv.auth("admin"))
    assert r.status == 404


async def test_password_change_needs_the_new_password(denv: WebEnv) -> None:
    r = await denv.client.patch(
        "/api/users/staff", headers=denv.auth("admin"), json={"password": "a brand new password"}
    )
    assert r.status == 200
    r = await denv.client.post("/api/auth/login", json={"username": "staff", "password": PASSWORD})
    assert r.status == 401
    await denv.login("staff", "a brand new password")


async def test_failed_logins_are_limited_per_client(make_env: MakeEnv) -> None:
    env = await make_env(web={"login_attempts_per_min": 3})
    for _ in range(3):
        r = await env.client.post("/api/auth/login", json={"username": "staff", "password": "bad"})
        assert r.status == 401
    r = await env.client.post("/api/auth/login", json={"username": "staff", "password": PASSWORD})
    assert r.status == 429
    assert int(r.headers["Retry-After"]) >= 1
    body = await r.json()
    assert body["code"] == "too_many_attempts" and body["limit"] == "address_username"
    assert body["retry_after"] == int(r.headers["Retry-After"])  # the same, as a value


async def _login(env: WebEnv, username: str, password: str, address: str) -> int:
    """A login over HTTP from ``address`` (a loopback address: 127.x.y.z all reach the server)."""
    import aiohttp

    connector = aiohttp.TCPConnector(local_addr=(address, 0))
    async with aiohttp.ClientSession(connector=connector) as s:
        url = env.client.make_url("/api/auth/login")
        async with s.post(url, json={"username": username, "password": password}) as r:
            return r.status


async def test_a_guesser_behind_a_shared_address_locks_out_only_what_it_guesses(
    make_env: MakeEnv,
) -> None:
    """The guests' Wi-Fi NAT is the staff's too: failures for `admin` from it do not stop
    `staff` logging in from it, nor `admin` from elsewhere; a guesser spread over many
    addresses is stopped by the per-username limit, a sprayer by the per-address one."""
    env = await make_env(
        web={
            "login_attempts_per_min": 3,
            "login_attempts_per_user_per_min": 6,
            "login_attempts_per_address_per_min": 8,
        }
    )
    for _ in range(3):  # through HTTP: the test client's address is the shared one
        r = await env.client.post("/api/auth/login", json={"username": "admin", "password": "x"})
        assert r.status == 401
    r = await env.client.post("/api/auth/login", json={"username": "admin", "password": "y"})
    assert r.status == 429 and (await r.json())["limit"] == "address_username"
    r = await env.client.post("/api/auth/login", json={"username": "staff", "password": PASSWORD})
    assert r.status == 200, "another user behind the same address logs in"
    assert await _login(env, "admin", PASSWORD, "127.0.9.9") == 200, "admin elsewhere too"
    # Spread over addresses, the guesses for one username stop at its own limit.
    codes = [await _login(env, "admin", "x", f"127.1.0.{i + 1}") for i in range(5)]
    assert codes == [401, 401, 401, 429, 429]  # 3 above + 3 here = 6
    wait, limit = env.app[LOGIN_LIMITER].wait("127.2.0.1", "admin")
    assert wait > 0 and limit == "username"
    # One address trying many usernames stops at the per-address limit.
    codes = [await _login(env, f"user{i}", "x", "127.3.0.1") for i in range(10)]
    assert codes == [401] * 8 + [429] * 2
    assert env.app[LOGIN_LIMITER].wait("127.3.0.1", "someone")[1] == "address"


async def test_refresh_gives_a_new_token(denv: WebEnv) -> None:
    r = await denv.client.post("/api/auth/refresh", headers=denv.auth("viewer"))
    assert r.status == 200
    token = (await r.json())["token"]
    r = await denv.client.get("/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert (await r.json())["username"] == "viewer"
