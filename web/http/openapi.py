"""GET /api/openapi.json, built from the declared routes and the models that validate them.

Nothing here is written by hand per route: parameters come from the query and
path Structs, bodies and answers from their Structs (msgspec generates the
JSON Schema), the error answers from what the route declares and what its
inputs imply (a body can be 400/413/415/422, a login-only route 401, ...).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from pathlib import Path
from typing import Any

import msgspec
import orjson
from aiohttp import web

from web.http.api import Endpoint
from web.http.problems import PROBLEM_TYPE
from web.http.schemas import ProblemOut
from web.keys import EDGE, ENDPOINTS, SETTINGS
from web.security import ALL_ROLES

REF = "#/components/schemas/{name}"


def _props(model: Any, comps: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    (schema,), more = msgspec.json.schema_components([model], ref_template=REF)
    comps.update({k: v for k, v in more.items() if k not in comps})
    obj = more[schema["$ref"].rsplit("/", 1)[1]]
    return obj.get("properties", {}), set(obj.get("required", []))


def _errors(ep: Endpoint) -> list[int]:
    codes = set(ep.errors)
    if ep.roles is not None or ep.bearer:
        codes.add(401)
        if ep.roles != ALL_ROLES:
            codes.add(403)
    if ep.body is not None or ep.raw_body is not None:
        codes |= {400, 413, 415, 422}
    if ep.query is not None:
        codes.add(422)
    if ep.params is not None:
        codes.add(404)
    return sorted(codes)


def build(endpoints: list[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    models = [ProblemOut] + [m for ep in endpoints for m in (ep.body, ep.response) if m is not None]
    models += [e.raw_body[1] for e in endpoints if e.raw_body and isinstance(e.raw_body[1], type)]
    refs, comps = msgspec.json.schema_components(models, ref_template=REF)
    ref_of = dict(zip([id(m) for m in models], refs, strict=True))
    comps = dict(comps)
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "operationId": ep.operation_id,
            "summary": ep.summary,
            "tags": [ep.tag],
        }
        if ep.description:
            op["description"] = ep.description
        if ep.bearer:
            op["security"] = [{"bearer": []}]
        elif ep.roles is None:
            op["security"] = []
        else:
            op["x-roles"] = sorted(ep.roles)
            op["security"] = [{"bearer": []}] + ([{"token": []}] if ep.token_query else [])
        params = []
        for where, model in (("path", ep.params), ("query", ep.query)):
            if model is None:
                continue
            props, required = _props(model, comps)
            for name, schema in props.items():
                if name == "token" and where == "query":
                    continue  # documented as a security scheme
                params.append(
                    {
                        "name": name,
                        "in": where,
                        "required": where == "path" or name in required,
                        "schema": schema,
                        **(
                            {"style": "form", "explode": True}
                            if schema.get("type") == "array"
                            else {}
                        ),
                    }
                )
        for name in _path_names(ep.path):
            if not any(p["name"] == name and p["in"] == "path" for p in params):
                params.append(
                    {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
                )
        if params:
            op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref_of[id(ep.body)]}},
            }
        elif ep.raw_body is not None:
            kind, schema = ep.raw_body
            op["requestBody"] = {
                "required": True,
                "content": {kind: {"schema": ref_of.get(id(schema), schema)}},
            }
        ok: dict[str, Any] = {"description": HTTPStatus(ep.status).phrase}
        if ep.response is not None:
            ok["content"] = {ep.response_type: {"schema": ref_of[id(ep.response)]}}
        elif ep.response_type != "application/json":
            ok["content"] = {ep.response_type: {"schema": {"type": "string"}}}
        status = ep.status
        responses: dict[str, Any] = {str(status): ok}
        for code in _errors(ep):
            responses[str(code)] = {
                "description": HTTPStatus(code).phrase,
                "content": {PROBLEM_TYPE: {"schema": ref_of[id(ProblemOut)]}},
            }
        op["responses"] = responses
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Robodine web tier: views of the gateway's Redis streams, "
            "commands to robots, chat, todos. Errors are "
            "application/problem+json (RFC 9457) with `code` and `field`.",
        },
        "paths": paths,
        "components": {
            "schemas": comps,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT",
                    "description": "POST /api/auth/login answers the token",
                },
                "token": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "WebSocket and SSE only: browsers cannot set headers there",
                },
            },
        },
        "tags": [{"name": t} for t in dict.fromkeys(ep.tag for ep in endpoints)],
    }


def _path_names(path: str) -> list[str]:
    return [m.split(":", 1)[0] for m in re.findall(r"{([^}]+)}", path)]


def package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("robodine")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


_STATIC = Path(__file__).resolve().parent.parent / "static"
_DOCS_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'"
)


def install(app: web.Application) -> None:
    """Add /api/openapi.json (and /api/docs) for every route installed so far."""
    settings = app[SETTINGS].web
    doc = orjson.dumps(
        build(app[ENDPOINTS], title=f"Robodine web ({settings.name})", version=package_version())
    )

    async def openapi_json(request: web.Request) -> web.Response:
        return web.Response(
            body=doc, content_type="application/json", headers={"Cache-Control": "no-cache"}
        )

    edge = app[EDGE]
    edge.add_route(app, "GET", "/api/openapi.json", openapi_json, name="openapi")
    if not settings.docs:
        return
    files = {name: (_STATIC / name).read_bytes() for name in ("docs.html", "docs.js", "docs.css")}
    types = {"html": "text/html", "js": "text/javascript", "css": "text/css"}

    def serve(name: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(
                body=files[name],
                content_type=types[name.rsplit(".", 1)[1]],
                charset="utf-8",
                headers={"Content-Security-Policy": _DOCS_CSP, "Cache-Control": "no-cache"},
            )

        return handler

    edge.add_route(app, "GET", "/api/docs", serve("docs.html"), name="docs")
    edge.add_route(app, "GET", "/api/docs/docs.js", serve("docs.js"))
    edge.add_route(app, "GET", "/api/docs/docs.css", serve("docs.css"))
