"""The OpenAPI document and /api/topics describe what the server really does."""

from __future__ import annotations

from typing import Any

import jsonschema
import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.support.web import WebEnv, recv
from web.http.problems import STANDARD_MEMBERS, Problem
from web.http.schemas import ProblemOut


def _validator(root: dict[str, Any], ref: str | dict[str, Any]) -> jsonschema.Draft202012Validator:
    schema = {"components": root["components"], **(ref if isinstance(ref, dict) else {"$ref": ref})}
    return jsonschema.Draft202012Validator(schema)


async def openapi(env: WebEnv) -> dict[str, Any]:
    r = await env.client.get("/api/openapi.json")
    assert r.status == 200
    doc: dict[str, Any] = await r.json()
    return doc


async def test_every_route_is_documented(env: WebEnv) -> None:
    doc = await openapi(env)
    assert doc["openapi"].startswith("3.1")
    documented = {(p, m.upper()) for p, ops in doc["paths"].items() for m in ops}
    served = set()
    routes = list(env.app.router.routes())
    # The last route is web/http/edge.py's fallback (404, 405, CORS preflights), no endpoint.
    assert [(r.method, r.resource.canonical) for r in routes if r.method == "*"] == [
        ("*", "/{tail}")
    ] and routes[-1].method == "*"
    for route in routes[:-1]:
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        assert path is not None, route
        if route.method == "HEAD" or path.startswith(("/api/docs", "/api/openapi")):
            continue
        served.add((path, route.method))
    assert served == documented


async def test_schemas_are_valid_and_refs_resolve(env: WebEnv) -> None:
    doc = await openapi(env)
    for name, schema in doc["components"]["schemas"].items():
        jsonschema.Draft202012Validator.check_schema(schema), name
    text = str(doc)
    import re

    for ref in set(re.findall(r"#/components/schemas/([A-Za-z0-9_]+)", text)):
        assert ref in doc["components"]["schemas"], ref


async def test_operations_declare_security_roles_and_errors(env: WebEnv) -> None:
    doc = await openapi(env)
    post = doc["paths"]["/api/robots/{robot_id}/commands"]["post"]
    assert post["x-roles"] == ["admin", "staff"]
    assert post["security"] == [{"bearer": []}]
    assert {"202", "400", "401", "403", "404", "413", "415", "422"} <= set(post["responses"])
    assert post["responses"]["422"]["content"]["application/problem+json"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert "discriminator" in body and body["discriminator"]["propertyName"] == "action"
    login = doc["paths"]["/api/auth/login"]["post"]
    assert login["security"] == []
    events = doc["paths"]["/api/events"]["get"]
    names = {p["name"] for p in events["parameters"] if p["in"] == "query"}
    assert names == {"robot", "type", "level", "since", "before", "limit"}
    sse = doc["paths"]["/api/stream/{topic}"]["get"]
    assert "text/event-stream" in sse["responses"]["200"]["content"]
    assert {"bearer": []} in sse["security"] and {"token": []} in sse["security"]


async def test_answers_match_their_documented_schema(env: WebEnv) -> None:
    doc = await openapi(env)
    await env.snapshot("serve-1", connection="online", battery=50.0)
    await env.event("robot.state", "serve-1", state="idle")
    checks = [
        ("/api/robots", "get", "200"),
        ("/api/robots/serve-1", "get", "200"),
        ("/api/events", "get", "200"),
        ("/api/todos", "get", "200"),
        ("/api/users", "get", "200"),
        ("/api/auth/me", "get", "200"),
        ("/api/nothing", None, None),
    ]
    problem = _validator(doc, "#/components/schemas/ProblemOut")
    for path, method, status in checks:
        r = await env.client.get(path, headers=env.auth())
        body = await r.json()
        if method is None:
            problem.validate(body)
            continue
        schema = doc["paths"][path.replace("serve-1", "{robot_id}")][method]["responses"][status]
        _validator(doc, schema["content"]["application/json"]["schema"]).validate(body)


async def test_docs_page_is_self_contained(env: WebEnv) -> None:
    r = await env.client.get("/api/docs")
    assert r.status == 200 and r.content_type == "text/html"
    assert "script-src 'self'" in r.headers["Content-Security-Policy"]
    html = await r.text()
    assert "/api/docs/docs.js" in html and "http" not in html.split("<body>")[0].replace(
        "http-equiv", ""
    )
    r = await env.client.get("/api/docs/docs.js")
    assert r.status == 200 and "openapi.json" in await r.text()


async def test_topics_list_their_frame_schemas_and_frames_conform(env: WebEnv) -> None:
    r = await env.client.get("/api/topics", headers=env.auth("viewer"))
    body = await r.json()
    topics = {t["name"]: t for t in body["topics"]}
    assert {"robots", "telemetry", "events", "todos", "chat"} <= set(topics)
    assert topics["telemetry"]["delivery"] == "latest" and "max_hz" in topics["telemetry"]["params"]
    assert "max_hz" not in topics["events"]["params"]
    assert topics["events"]["sse"] == "/api/stream/events"
    root = {"components": {"schemas": body["components"]}}
    check = _validator(root, topics["events"]["frames"])
    await env.event("robot.state", "serve-1", state="idle")
    ws = await env.ws("/ws/events")
    frames = [await recv(ws), await recv(ws)]
    await env.event("robot.connection", "serve-2", state="online", previous="offline")
    frames.append(await recv(ws))
    for f in frames:
        check.validate(f)
    with pytest.raises(jsonschema.ValidationError):
        check.validate({"type": "event", "id": 5})
    await ws.close()
    chat = _validator(root, topics["chat"]["frames"])
    ws = await env.ws("/ws/chat/kitchen", "staff")
    chat.validate(await recv(ws))
    await ws.send_str('{"content": "hello"}')
    for _ in range(2):
        chat.validate(await recv(ws))
    await ws.close()


# ---- every integer a request carries is bounded (a huge one is a 422, never a 500) ----------


def _unbounded_integers(
    doc: dict[str, Any], schema: Any, where: str, seen: frozenset[str]
) -> list[str]:
    """Where ``schema`` (refs followed) allows an integer without a lower and an upper bound."""
    out: list[str] = []
    if isinstance(schema, list):
        for s in schema:
            out += _unbounded_integers(doc, s, where, seen)
        return out
    if not isinstance(schema, dict):
        return out
    ref = schema.get("$ref")
    if ref is not None:
        name = ref.rsplit("/", 1)[1]
        if name not in seen:
            out += _unbounded_integers(
                doc, doc["components"]["schemas"][name], f"{where}<{name}>", seen | {name}
            )
        return out
    kind = schema.get("type")
    if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
        low = "minimum" in schema or "exclusiveMinimum" in schema
        high = "maximum" in schema or "exclusiveMaximum" in schema
        if not (low and high):
            out.append(f"{where}: {schema}")
    for key, value in schema.items():
        if key == "properties":
            for prop, sub in value.items():
                out += _unbounded_integers(doc, sub, f"{where}.{prop}", seen)
        elif isinstance(value, dict | list):
            out += _unbounded_integers(doc, value, where, seen)
    return out


async def test_every_integer_a_request_carries_has_both_bounds(env: WebEnv) -> None:
    doc = await openapi(env)
    found: list[str] = []
    checked = 0
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            for p in op.get("parameters", []):
                where = f"{method.upper()} {path} {p['in']} {p['name']}"
                found += _unbounded_integers(doc, p["schema"], where, frozenset())
                checked += 1
            body = op.get("requestBody")
            for ctype, content in (body or {}).get("content", {}).items():
                where = f"{method.upper()} {path} body ({ctype})"
                found += _unbounded_integers(doc, content.get("schema", {}), where, frozenset())
                checked += 1
    assert checked > 50  # the walk saw the API, not an empty document
    assert found == []
    # The walker does find one (so an empty list above means something).
    assert _unbounded_integers(doc, {"type": "integer", "minimum": 0}, "x", frozenset())


@pytest.mark.parametrize(
    "path",
    [
        "/api/menu?offset=9223372036854775808",
        "/api/tables?offset=9223372036854775808",
        "/api/inventory?offset=99999999999999999999",
        "/api/orders?offset=9223372036854775808",
        "/api/todos?offset=9223372036854775808",
        "/api/todos/9223372036854775808",
        "/api/todos/2147483648",
    ],
)
async def test_integers_out_of_range_are_4xx(env: WebEnv, path: str) -> None:
    r = await env.client.get(path, headers=env.auth())
    assert r.status in (404, 422), (path, r.status, await r.text())
    _validator(await openapi(env), "#/components/schemas/ProblemOut").validate(await r.json())


@pytest.mark.parametrize("before", ["0", "0-0"])
async def test_paging_before_the_first_id_is_an_empty_page(env: WebEnv, before: str) -> None:
    await env.event("robot.state", "serve-1", state="idle")
    await env.telemetry("serve-1", 1)
    r = await env.client.get("/api/events", params={"before": before}, headers=env.auth())
    assert r.status == 200, await r.text()
    page = await r.json()
    assert page["items"] == [] and page["before"] is None
    r = await env.client.get(
        "/api/robots/serve-1/telemetry", params={"before": before}, headers=env.auth()
    )
    assert r.status == 200, await r.text()
    page = await r.json()
    assert page["items"] == [] and page["before"] is None
    top = "18446744073709551615-18446744073709551615"  # nothing comes after the largest id
    r = await env.client.get("/api/events", params={"since": top}, headers=env.auth())
    assert r.status == 200, await r.text()
    assert (await r.json())["items"] == []


# ---- problem+json: the standard members are never replaced by extra ones ----------------

_MEMBER = st.sampled_from(["type", "title", "status", "detail", "instance", "code", "field"])
_JSON = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=20))


@given(
    status=st.integers(400, 599),
    field=st.one_of(st.none(), st.text(min_size=1, max_size=10)),
    extra=st.dictionaries(st.one_of(_MEMBER, st.text(max_size=10)), _JSON, max_size=8),
)
def test_a_problem_keeps_its_standard_members_whatever_extra_says(
    status: int, field: str | None, extra: dict[str, Any]
) -> None:
    p = Problem(status, "conflict", "what went wrong", field=field, extra=extra)
    body = p.body("/api/x")
    jsonschema.validate(body, msgspec.json.schema(ProblemOut))
    assert body["status"] == status and body["code"] == "conflict"
    assert body["type"] == "urn:robodine:problem:conflict" and body["instance"] == "/api/x"
    assert body["detail"] == "what went wrong" and body.get("field") == field
    for key, value in extra.items():
        if key not in STANDARD_MEMBERS:
            assert body[key] == value
