"""Declared REST routes: one decorator gives validation, auth, JSON and the OpenAPI entry.

Every handler states its body, query and path models (msgspec Structs), the
roles that may call it and what it answers. The wrapper validates the request
against exactly those models, and web/http/openapi.py documents exactly those
models, so the document cannot drift from what is enforced.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson
from aiohttp import web

from web.http import audit, auth
from web.http.jsonutil import json_response
from web.http.problems import Problem, from_validation
from web.keys import EDGE, ENDPOINTS
from web.security import Role

Handler = Callable[..., Awaitable[Any]]

_JSON_TYPES = ("application/json",)


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    roles: frozenset[Role] | None  # None: no login needed
    body: Any = None
    query: Any = None
    params: Any = None  # path parameters
    response: Any = None  # None: no body (204)
    status: int = 200
    errors: tuple[int, ...] = ()
    description: str = ""
    token_query: bool = False  # `?token=` accepted (SSE: browsers cannot set headers)
    response_type: str = "application/json"
    raw: bool = False  # the handler checks auth and parameters itself (WebSocket, SSE)
    # A body the handler reads itself (multipart, a signed raw body): its content type and
    # a msgspec model or a JSON schema dict, for the OpenAPI document only; a dict of them
    # when it takes several.
    raw_body: tuple[str, Any] | dict[str, Any] | None = None
    bearer: bool = False  # no role check, but the handler reads the bearer token itself
    headers: tuple[str, ...] = ()  # request headers it reads (web/http/openapi.py HEADERS)
    response_headers: tuple[str, ...] = ()  # headers of its success answer (Location, ETag)
    tag_description: str = ""
    # The handler streams the body and checks a size limit of its own (uploads): the
    # edge's web.max_body_bytes check of the declared Content-Length is not applied.
    own_body_limit: bool = False

    @property
    def operation_id(self) -> str:
        return self.handler.__name__


@dataclass
class Routes:
    """One route module's table; ``install`` adds it to an application.

    ``setup`` puts the module's own shared state on the application (before it
    is frozen), e.g. a cache its handlers read.
    """

    tag: str
    description: str = ""
    endpoints: list[Endpoint] = field(default_factory=list)
    setup: Callable[[web.Application], None] | None = None

    def route(
        self,
        method: str,
        path: str,
        *,
        summary: str,
        roles: frozenset[Role] | None,
        body: Any = None,
        query: Any = None,
        params: Any = None,
        response: Any = None,
        status: int = 200,
        errors: tuple[int, ...] = (),
        token_query: bool = False,
        response_type: str = "application/json",
        raw: bool = False,
        raw_body: tuple[str, Any] | dict[str, Any] | None = None,
        bearer: bool = False,
        headers: tuple[str, ...] = (),
        response_headers: tuple[str, ...] = (),
        own_body_limit: bool = False,
    ) -> Callable[[Handler], Handler]:
        def deco(fn: Handler) -> Handler:
            self.endpoints.append(
                Endpoint(
                    method,
                    path,
                    fn,
                    summary,
                    self.tag,
                    roles,
                    body,
                    query,
                    params,
                    response,
                    status,
                    errors,
                    inspect.cleandoc(fn.__doc__ or ""),  # docstring indentation is no code block
                    token_query,
                    response_type,
                    raw,
                    raw_body,
                    bearer,
                    headers,
                    response_headers,
                    self.description,
                    own_body_limit,
                )
            )
            return fn

        return deco

    def install(self, app: web.Application) -> None:
        if self.setup is not None:
            self.setup(app)
        for ep in self.endpoints:
            app[EDGE].add_route(
                app,
                ep.method,
                ep.path,
                _wrap(ep, app),
                name=ep.operation_id,
                check_body=not ep.own_body_limit,
            )
            app[ENDPOINTS].append(ep)


def _wrap(
    ep: Endpoint, app: web.Application
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    if ep.raw:
        return ep.handler
    # What the wrapper checks on every request, read once here (the app too: the route
    # table is installed per application, so request.app is this one).
    fn, roles, token_query, status = ep.handler, ep.roles, ep.token_query, ep.status
    params, query, body = ep.params, ep.query, ep.body
    skip = ("token",) if token_query else ()
    write = ep.method in audit.WRITES

    async def handler(request: web.Request) -> web.StreamResponse:
        if roles is None:
            return await respond(request)
        if write:  # an integration's writes are audited, refused ones too
            return await audit.audited(request, lambda: authorized(request))
        return await authorized(request)

    async def authorized(request: web.Request) -> web.StreamResponse:
        assert roles is not None
        user = auth.known_user(request, app) or await auth.authenticate(
            request, allow_query=token_query
        )
        if user.role not in roles:
            auth.require(user, roles)
        return await respond(request)

    async def respond(request: web.Request) -> web.StreamResponse:
        if params is None and query is None and body is None:  # most GETs
            if request.query_string:
                _unknown_query(request, skip)
            result = await fn(request)
        else:
            kwargs: dict[str, Any] = {}
            if params is not None:
                kwargs["params"] = parse_path(request, params)
            if query is not None:
                kwargs["query"] = parse_query(request, query, skip=skip)
            elif request.query_string:
                _unknown_query(request, skip)
            if body is not None:
                kwargs["body"] = await parse_body(request, body)
            result = await fn(request, **kwargs)
        # type() first: StreamResponse is a MutableMapping, so isinstance goes through ABCMeta
        if type(result) is web.Response or isinstance(result, web.StreamResponse):
            return result
        if result is None:
            return web.Response(status=204 if status == 200 else status)
        return json_response(result, status=status)

    handler.__name__ = ep.operation_id
    return handler


def _unknown_query(request: web.Request, skip: tuple[str, ...]) -> None:
    """422 for the first query parameter the endpoint does not take (none: nothing)."""
    unknown = [k for k in request.query if k not in skip]
    if unknown:
        raise Problem(
            422,
            "invalid_field",
            f"query: unknown parameter {unknown[0]!r}",
            field=unknown[0],
            extra={"in": "query"},
        )


async def parse_body(request: web.Request, model: Any) -> Any:
    if request.content_type not in _JSON_TYPES:
        raise Problem(
            415,
            "unsupported_media_type",
            f"send the body as application/json, not {request.content_type!r}",
        )
    raw = await request.read()  # aiohttp enforces client_max_size here (413)
    if not raw.strip():
        raise Problem(400, "invalid_json", "the request body is empty; a JSON object is required")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    try:
        return msgspec.convert(data, model, strict=True)
    except msgspec.ValidationError as exc:
        raise from_validation(exc, where="body") from None


def parse_query(request: web.Request, model: Any, skip: tuple[str, ...] = ()) -> Any:
    multi = _list_fields(model)
    data: dict[str, Any] = {}
    for key in request.query:
        if key in skip or key in data:
            continue
        values = request.query.getall(key)
        if key in multi:
            data[key] = [v for raw in values for v in raw.split(",") if v]
        elif len(values) > 1:
            raise Problem(
                422,
                "invalid_field",
                f"query: {key!r} given {len(values)} times",
                field=key,
                extra={"in": "query"},
            )
        else:
            data[key] = values[0]
    try:
        return msgspec.convert(data, model, strict=False)
    except msgspec.ValidationError as exc:
        raise from_validation(exc, where="query") from None


def parse_path(request: web.Request, model: Any) -> Any:
    try:
        return msgspec.convert(dict(request.match_info), model, strict=False)
    except msgspec.ValidationError:
        raise Problem(404, "not_found", f"nothing at {request.path}") from None


def _list_fields(model: Any) -> frozenset[str]:
    info = msgspec.inspect.type_info(model)
    assert isinstance(info, msgspec.inspect.StructType)
    out = set()
    for f in info.fields:
        t = f.type
        if isinstance(t, msgspec.inspect.Metadata):  # Annotated with a Meta (a description)
            t = t.type
        if isinstance(t, msgspec.inspect.UnionType):
            t = next((x for x in t.types if not isinstance(x, msgspec.inspect.NoneType)), t)
        if isinstance(t, msgspec.inspect.ListType | msgspec.inspect.SetType):
            out.add(f.encode_name)
    return frozenset(out)


def idempotency_key(request: web.Request) -> str | None:
    """The ``Idempotency-Key`` header, checked: a repeated write answers as the first did."""
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not (1 <= len(key) <= 128) or not key.isascii() or not key.isprintable():
        raise Problem(
            422,
            "invalid_field",
            "Idempotency-Key: 1 to 128 printable ASCII characters",
            field="Idempotency-Key",
            extra={"in": "header"},
        )
    return key
