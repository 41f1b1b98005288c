"""The staff dashboard: ``/`` serves the single page, ``/ui/`` its ES modules and CSS,
and ``GET /api/floor`` the floor plan it draws (the config's ``[floor]``).

No build step: the files under web/static/dashboard are served as they are.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from msgspec import Struct

from web.http.api import Routes
from web.keys import SETTINGS
from web.security import ALL_ROLES

STATIC = Path(__file__).resolve().parent / "static" / "dashboard"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class FloorPoint(Struct, kw_only=True):
    name: str
    x: float
    y: float


class FloorOut(Struct, kw_only=True):
    """Metres; the origin is the plan's top-left corner."""

    width: float
    height: float
    kitchen_pass: FloorPoint
    docks: list[FloorPoint]
    tables: list[FloorPoint]  # the config's tables; /api/tables has the ones in SQL
    waypoints: list[FloorPoint]


routes = Routes("dashboard", "The staff dashboard's page, its files and the floor plan it draws.")
TYPES = {"js": "text/javascript", "css": "text/css", "html": "text/html"}


class FilePath(Struct, kw_only=True):
    name: str  # a file of web/static/dashboard, e.g. main.js


def _point(p: object) -> FloorPoint:
    return FloorPoint(name=p.name, x=p.x, y=p.y)  # type: ignore[attr-defined]


@routes.route("GET", "/api/floor", summary="The floor plan", roles=ALL_ROLES, response=FloorOut)
async def floor(request: web.Request) -> FloorOut:
    """Size, kitchen pass, docks, configured tables and aisle waypoints, in metres."""
    f = request.app[SETTINGS].floor
    return FloorOut(
        width=f.width,
        height=f.height,
        kitchen_pass=_point(f.kitchen_pass),
        docks=[_point(d) for d in f.docks],
        tables=[_point(t) for t in f.tables],
        waypoints=[_point(w) for w in f.waypoints],
    )


@routes.route(
    "GET", "/", summary="The staff dashboard", roles=None, raw=True, response_type="text/html"
)
async def index(request: web.Request) -> web.Response:
    """The single page; it logs in with /api/auth/login and keeps the token in localStorage."""
    return _file("index.html")


@routes.route(
    "GET",
    "/ui/{name}",
    summary="A file of the dashboard (ES module, CSS)",
    roles=None,
    params=FilePath,
    raw=True,
    response_type="text/javascript",
    errors=(404,),
)
async def ui_file(request: web.Request) -> web.Response:
    """Served as they are in the source tree: no build step."""
    return _file(request.match_info["name"])


def _file(name: str) -> web.Response:
    ext = name.rsplit(".", 1)[-1]
    path = STATIC / name
    if "/" in name or name.startswith(".") or ext not in TYPES or not path.is_file():
        raise web.HTTPNotFound()
    return web.Response(
        body=path.read_bytes(),
        content_type=TYPES[ext],
        charset="utf-8",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )
