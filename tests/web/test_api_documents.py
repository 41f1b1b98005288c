"""Both API documents are valid against their official schemas and describe everything.

OpenAPI 3.1 is checked with openapi-spec-validator (which carries the official
schema); AsyncAPI 3.0 with the official JSON schema of the ``@asyncapi/specs``
package (tests/web/schemas/asyncapi-3.0.0.json, Apache-2.0).
"""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from openapi_spec_validator import validate as validate_openapi
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from tests.support.web import WebEnv, recv

ASYNCAPI_SCHEMA = Path(__file__).parent / "schemas" / "asyncapi-3.0.0.json"
METHODS = {"get", "post", "put", "patch", "delete"}


async def _get(env: WebEnv, path: str) -> dict[str, Any]:
    r = await env.client.get(path)
    assert r.status == 200, path
    doc = await r.json()
    assert isinstance(doc, dict)
    return doc


def _described(schema: dict[str, Any]) -> bool:
    return bool(schema.get("description"))


def _undescribed_fields(schemas: dict[str, Any]) -> list[str]:
    return [
        f"{name}.{field}"
        for name, schema in schemas.items()
        for field, prop in schema.get("properties", {}).items()
        if not _described(prop)
    ]


async def test_openapi_is_valid_and_describes_every_operation_and_field(env: WebEnv) -> None:
    doc = await _get(env, "/api/openapi.json")
    # The validator takes about a second over the whole document: in a thread, so the
    # loop (the web app under test runs on it) is not held that long.
    await asyncio.to_thread(validate_openapi, doc)
    broken = copy.deepcopy(doc)
    broken["paths"]["/health"]["get"]["responses"] = "none"
    with pytest.raises(OpenAPIValidationError):
        await asyncio.to_thread(validate_openapi, broken)  # the validator bites
    assert doc["servers"] == [{"url": "/", "description": "this web process"}]
    tags = {t["name"]: t["description"] for t in doc["tags"]}
    assert all(d and d != n for n, d in tags.items()), tags
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            where = f"{method.upper()} {path}"
            assert op["summary"] and op["tags"] and op["tags"][0] in tags, where
            description = op["description"]
            assert description and description != op["summary"], f"{where}: no description"
            assert not any(line.startswith("    ") for line in description.splitlines()), (
                f"{where}: indented like a code block"
            )
            for p in op["parameters"]:
                assert p["description"], f"{where}: parameter {p['name']}"
            names = {(p["in"], p["name"]) for p in op["parameters"]}
            assert ("header", "X-Request-ID") in names, where
            if op["security"]:
                assert {"401", "503"} <= set(op["responses"]), where
            if op.get("x-roles"):
                assert {"401", "403", "429", "503"} <= set(op["responses"]), where
                assert op["responses"]["429"]["headers"]["Retry-After"], where
            for code, answer in op["responses"].items():
                assert answer["description"], f"{where} {code}"
    assert _undescribed_fields(doc["components"]["schemas"]) == []
    with_examples = [
        prop
        for schema in doc["components"]["schemas"].values()
        for prop in schema.get("properties", {}).values()
        if prop.get("examples")
    ]
    assert len(with_examples) >= 40


async def test_openapi_declares_the_headers(env: WebEnv) -> None:
    doc = await _get(env, "/api/openapi.json")

    def headers(path: str, method: str) -> set[str]:
        op = doc["paths"][path][method]
        return {p["name"] for p in op["parameters"] if p["in"] == "header"}

    assert "Idempotency-Key" in headers("/api/orders", "post")
    assert "Idempotency-Key" in headers("/api/robots/{robot_id}/commands", "post")
    assert {"Last-Event-ID", "Origin"} <= headers("/api/stream/{topic}", "get")
    assert {"Last-Event-ID"} <= headers("/api/orders/{order_id}/events", "get")
    assert "Origin" in headers("/ws/{topic}", "get")
    assert "If-None-Match" in headers("/api/robots", "get")
    assert {"Range", "If-Range"} <= headers("/api/uploads/{upload_id}/content", "get")
    accepted = doc["paths"]["/api/robots/{robot_id}/commands"]["post"]["responses"]["202"]
    assert {"Location", "X-Request-ID"} <= set(accepted["headers"])
    login = doc["paths"]["/api/auth/login"]["post"]["responses"]
    assert {"429", "503"} <= set(login) and login["401"]["headers"]["WWW-Authenticate"]
    wait = next(
        p
        for p in doc["paths"]["/api/robots/{robot_id}/commands/{command_id}"]["get"]["parameters"]
        if p["name"] == "wait"
    )
    assert wait["schema"]["maximum"] == 30 and wait["schema"]["minimum"] == 0


async def test_asyncapi_is_valid_and_describes_every_feed(env: WebEnv) -> None:
    doc = await _get(env, "/api/asyncapi.json")
    validator = jsonschema.Draft7Validator(json.loads(ASYNCAPI_SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(doc)]
    assert errors == []
    broken = copy.deepcopy(doc)
    broken["channels"]["ws-orders"]["address"] = 42
    assert not validator.is_valid(broken), "the schema bites"
    assert doc["asyncapi"] == "3.0.0"
    assert "4008" in doc["info"]["description"] and "snapshot" in doc["info"]["description"]
    topics = {
        t["name"]
        for t in (await (await env.client.get("/api/topics", headers=env.auth("viewer"))).json())[
            "topics"
        ]
    }
    for name in topics - {"chat"}:
        assert doc["channels"][f"ws-{name}"]["address"] == f"/ws/{name}"
        assert doc["channels"][f"sse-{name}"]["address"] == f"/api/stream/{name}"
    chat = doc["channels"]["ws-chat"]
    assert chat["address"] == "/ws/chat/{room}" and "room" in chat["parameters"]
    assert {"History", "Message", "Presence", "ChatPost"} <= set(chat["messages"])
    orders = doc["channels"]["ws-orders"]
    assert {"Hello", "Snapshot_OrderOut_", "OrderFrame", "TaskFrame", "AuthRefresh"} <= set(
        orders["messages"]
    )
    assert "since" in orders["bindings"]["ws"]["query"]["properties"]
    for key, op in doc["operations"].items():
        assert op["summary"] and op["description"], key
        assert op["action"] in ("send", "receive"), key
    for name, message in doc["components"]["messages"].items():
        assert message["summary"], name
    assert _undescribed_fields(doc["components"]["schemas"]) == []


async def test_frames_the_server_sends_match_the_asyncapi_payloads(env: WebEnv) -> None:
    doc = await _get(env, "/api/asyncapi.json")

    def check(message: str, frame: dict[str, Any]) -> None:
        schema = {"definitions": {}, **doc["components"]["messages"][message]["payload"]}
        resolver_doc = {"components": doc["components"], **schema}
        jsonschema.Draft7Validator(resolver_doc).validate(frame)

    r = await env.client.post("/api/todos", headers=env.auth("staff"), json={"title": "mop"})
    assert r.status == 201
    ws = await env.ws("/ws/todos", "viewer")
    check("Hello", await recv(ws))
    check("Snapshot_TodoOut_", await recv(ws))
    await env.client.post("/api/todos", headers=env.auth("staff"), json={"title": "sweep"})
    check("TodoFrame", await recv(ws))
    await ws.send_json({"type": "nonsense"})
    check("ErrorFrame", await recv(ws))
    await ws.close()
