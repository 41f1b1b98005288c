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

REF = "#/components/schemas/{name}"


# Request headers an operation may declare (Endpoint.headers), and those every one has.
HEADERS: dict[str, tuple[str, dict[str, Any]]] = {
    "Idempotency-Key": (
        "Makes a retried write answer as the first one did (per user, 24 h) instead of doing "
        "it twice; the same key with another body is a 422. 1 to 128 printable ASCII.",
        {"type": "string", "minLength": 1, "maxLength": 128, "examples": ["a1b2c3d4-retry-1"]},
    ),
    "Last-Event-ID": (
        "Resume an SSE stream after this stream id (browsers send it when they reconnect); "
        "wins over `?since=`.",
        {"type": "string", "examples": ["1764921600125-0"]},
    ),
    "If-None-Match": (
        "The `ETag` of the last answer: 304 with no body while nothing changed.",
        {"type": "string"},
    ),
    "Range": (
        "A byte range of the content (206; 416 when it cannot be served).",
        {"type": "string"},
    ),
    "If-Range": ("The `ETag` a `Range` request is for.", {"type": "string"}),
    "Content-Disposition": (
        'A raw upload\'s file name (`attachment; filename="menu.png"`, or `filename*=` '
        "for UTF-8) when `?filename=` is not given.",
        {"type": "string", "examples": ['attachment; filename="menu.png"']},
    ),
    "Origin": (
        "Sent by browsers on WebSockets and SSE: must be one of `web.origins` (else 403 "
        "`origin_not_allowed`); a client without it is not a browser and is let through.",
        {"type": "string", "examples": ["http://127.0.0.1:8080"]},
    ),
    "X-Request-ID": (
        "Your id for this request (up to 128 sane characters), echoed in the answer and "
        "logged with it; one is made when none comes.",
        {"type": "string", "maxLength": 128},
    ),
}
# Headers of answers (Endpoint.response_headers, and per status below).
RESPONSE_HEADERS: dict[str, tuple[str, dict[str, Any]]] = {
    "X-Request-ID": ("The request's id (yours, or one made for it).", {"type": "string"}),
    "Location": ("Where the new or accepted resource is.", {"type": "string"}),
    "ETag": ("A weak validator: send it back in `If-None-Match`.", {"type": "string"}),
    "Retry-After": ("Seconds to wait before trying again.", {"type": "integer", "minimum": 0}),
    "WWW-Authenticate": (
        "The RFC 6750 challenge, with the `error` when a token came.",
        {"type": "string"},
    ),
    "Content-Range": ("The bytes of a partial answer.", {"type": "string"}),
}
ERRORS: dict[int, tuple[str, tuple[str, ...]]] = {
    400: ("The body is not JSON, or empty (`invalid_json`).", ()),
    401: (
        "No token (`missing_token`), or one that is malformed, forged, expired, logged out or "
        "revoked, or an unknown or revoked integration key (`invalid_token`, `token_expired`).",
        ("WWW-Authenticate",),
    ),
    403: (
        "Your role may not (`forbidden`), or an integration key beyond its routes or robots "
        "(`out_of_scope`); on feeds also an Origin not in `web.origins`.",
        (),
    ),
    404: ("Nothing there (`not_found`); also for a malformed id in the path.", ()),
    409: ("It conflicts with what is there now (`conflict` and the route's own codes).", ()),
    413: ("The body is larger than `web.max_body_bytes` (`body_too_large`).", ()),
    415: ("The body is not `application/json` (`unsupported_media_type`).", ()),
    416: ("The `Range` cannot be served.", ("Content-Range",)),
    422: (
        "A field is wrong: type, range, unknown or missing (`invalid_field`); `field` names "
        "it and `in` says body, query, header or path.",
        (),
    ),
    429: (
        "Too many: failed logins (`too_many_attempts`), an integration key over its rate "
        "(`rate_limited`), feeds of one user (`too_many_feeds`).",
        ("Retry-After",),
    ),
    503: (
        "Redis or the database did not answer (`redis_unavailable`, "
        "`database_unavailable`); nothing was half done.",
        ("Retry-After",),
    ),
}


def _header(name: str, table: dict[str, tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    text, schema = table[name]
    return {"description": text, "schema": schema}


def _hoist(schema: dict[str, Any]) -> dict[str, Any]:
    """A description (and examples) given on the non-null branch of ``X | None`` is the
    property's own: client generators and renderers read it at the top. A tag field
    (one value, which tells the variants of a union apart) says so."""
    for key in ("description", "examples"):
        if key not in schema:
            for branch in schema.get("anyOf", ()):
                if key in branch:
                    schema[key] = branch[key]
                    break
    values = schema.get("enum")
    if "description" not in schema and isinstance(values, list) and len(values) == 1:
        schema["description"] = f"always `{values[0]}`: which variant this is"
    return schema


def describe_components(comps: dict[str, Any]) -> None:
    """``_hoist`` every property of every component schema (also the AsyncAPI document's)."""
    for schema in comps.values():
        for prop in schema.get("properties", {}).values():
            _hoist(prop)


def _props(model: Any, comps: dict[str, Any]) -> tuple[dict[str, Any], set[str]]:
    (schema,), more = msgspec.json.schema_components([model], ref_template=REF)
    comps.update({k: v for k, v in more.items() if k not in comps})
    obj = more[schema["$ref"].rsplit("/", 1)[1]]
    return obj.get("properties", {}), set(obj.get("required", []))


def _errors(ep: Endpoint) -> list[int]:
    codes = set(ep.errors)
    if ep.roles is not None or ep.bearer:
        codes |= {401, 503}  # the token's user row may need the database
    if ep.roles is not None:
        codes |= {403, 429}  # a role; an integration key's scope and rate limit
    if ep.body is not None or ep.raw_body is not None:
        codes |= {400, 413, 415, 422}
    if ep.query is not None:
        codes.add(422)
    if ep.params is not None:
        codes.add(404)
    return sorted(codes)


def _raw_bodies(ep: Endpoint) -> dict[str, Any]:
    """The content types (and their schemas) of a body the handler reads itself."""
    if ep.raw_body is None:
        return {}
    if isinstance(ep.raw_body, dict):
        return ep.raw_body
    kind, schema = ep.raw_body
    return {kind: schema}


def _request_headers(ep: Endpoint) -> list[str]:
    names = list(ep.headers)
    if ep.response_type == "text/event-stream":
        names.append("Last-Event-ID")
    if ep.path.startswith("/ws/") or ep.response_type == "text/event-stream":
        names.append("Origin")
    names.append("X-Request-ID")
    return list(dict.fromkeys(names))


def build(endpoints: list[Endpoint], *, title: str, version: str) -> dict[str, Any]:
    models = [ProblemOut] + [m for ep in endpoints for m in (ep.body, ep.response) if m is not None]
    models += [m for e in endpoints for m in _raw_bodies(e).values() if isinstance(m, type)]
    refs, comps = msgspec.json.schema_components(models, ref_template=REF)
    ref_of = dict(zip([id(m) for m in models], refs, strict=True))
    comps = dict(comps)
    paths: dict[str, dict[str, Any]] = {}
    for ep in endpoints:
        op: dict[str, Any] = {
            "operationId": ep.operation_id,
            "summary": ep.summary,
            "description": ep.description or ep.summary,
            "tags": [ep.tag],
        }
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
                schema = _hoist(dict(schema))
                param: dict[str, Any] = {
                    "name": name,
                    "in": where,
                    "required": where == "path" or name in required,
                    "description": schema.get("description", ""),
                    "schema": schema,
                }
                if schema.get("type") == "array":
                    param.update(style="form", explode=True)
                params.append(param)
        for name in _path_names(ep.path):
            if not any(p["name"] == name and p["in"] == "path" for p in params):
                params.append(
                    {
                        "name": name,
                        "in": "path",
                        "required": True,
                        "description": f"the {name.replace('_', ' ')}",
                        "schema": {"type": "string"},
                    }
                )
        for name in _request_headers(ep):
            params.append(
                {"name": name, "in": "header", "required": False, **_header(name, HEADERS)}
            )
        op["parameters"] = params
        if ep.body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": ref_of[id(ep.body)]}},
            }
        elif ep.raw_body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {
                    kind: {"schema": ref_of.get(id(schema), schema)}
                    for kind, schema in _raw_bodies(ep).items()
                },
            }
        ok: dict[str, Any] = {
            "description": HTTPStatus(ep.status).phrase,
            "headers": {
                n: _header(n, RESPONSE_HEADERS) for n in ("X-Request-ID", *ep.response_headers)
            },
        }
        if ep.response is not None:
            ok["content"] = {ep.response_type: {"schema": ref_of[id(ep.response)]}}
        elif ep.response_type != "application/json":
            ok["content"] = {ep.response_type: {"schema": {"type": "string"}}}
        responses: dict[str, Any] = {str(ep.status): ok}
        for code in _errors(ep):
            text, headers = ERRORS.get(code, (HTTPStatus(code).phrase, ()))
            answer: dict[str, Any] = {
                "description": text,
                "content": {PROBLEM_TYPE: {"schema": ref_of[id(ProblemOut)]}},
            }
            if headers:
                answer["headers"] = {n: _header(n, RESPONSE_HEADERS) for n in headers}
            responses[str(code)] = answer
        op["responses"] = responses
        paths.setdefault(ep.path, {})[ep.method.lower()] = op
    describe_components(comps)
    tags: dict[str, str] = {}
    for ep in endpoints:  # several route modules may share a tag: the first that says wins
        tags[ep.tag] = tags.get(ep.tag) or ep.tag_description
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Robodine web tier: views of the gateway's Redis streams, "
            "commands to robots, orders, the restaurant, chat, todos, jobs. Errors are "
            "application/problem+json (RFC 9457) with `code` and `field`. The WebSocket and "
            "SSE feeds are described by the AsyncAPI document at `/api/asyncapi.json`.",
        },
        "servers": [{"url": "/", "description": "this web process"}],
        "paths": paths,
        "components": {
            "schemas": comps,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "bearerFormat": "JWT or integration key",
                    "description": "POST /api/auth/login answers a token; an integration's key "
                    "(`rdk_...`, POST /api/integrations) is sent the same way",
                },
                "token": {
                    "type": "apiKey",
                    "in": "query",
                    "name": "token",
                    "description": "WebSocket and SSE only: browsers cannot set headers there",
                },
            },
        },
        "tags": [{"name": t, "description": d or t} for t, d in tags.items()],
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
_TRY_CSP = _DOCS_CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")


def install(app: web.Application) -> None:
    """Add /api/openapi.json (and /api/docs, /api/docs/try) for every route installed so far."""
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
    names = ("docs.html", "docs.js", "docs.css", "try.html", "rapidoc/rapidoc-min.js")
    files = {name.rsplit("/", 1)[-1]: (_STATIC / name).read_bytes() for name in names}
    types = {"html": "text/html", "js": "text/javascript", "css": "text/css"}

    def serve(name: str, csp: str = _DOCS_CSP) -> Any:
        async def handler(request: web.Request) -> web.Response:
            return web.Response(
                body=files[name],
                content_type=types[name.rsplit(".", 1)[1]],
                charset="utf-8",
                headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"},
            )

        return handler

    edge.add_route(app, "GET", "/api/docs", serve("docs.html"), name="docs")
    edge.add_route(app, "GET", "/api/docs/docs.js", serve("docs.js"))
    edge.add_route(app, "GET", "/api/docs/docs.css", serve("docs.css"))
    # RapiDoc (vendored, web/static/rapidoc): "try it out" against this server. Its
    # components set inline styles; scripts stay 'self' only.
    edge.add_route(app, "GET", "/api/docs/try", serve("try.html", _TRY_CSP), name="docs_try")
    edge.add_route(app, "GET", "/api/docs/rapidoc-min.js", serve("rapidoc-min.js", _TRY_CSP))
