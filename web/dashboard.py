"""The staff dashboard: ``/`` serves the single page, ``/ui/`` its ES modules and CSS,
and ``GET /api/floor`` the floor plan it draws (the config's ``[floor]``).

No build step: the files under web/static/dashboard are served as they are.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from aiohttp import web
from msgspec import Meta, Struct

from web.db.media import FloorPlan
from web.http.api import Routes
from web.http.schemas import Request, doc
from web.keys import DB, SETTINGS, USER
from web.security import ADMINS, ALL_ROLES
from web.uploads.service import require_image

STATIC = Path(__file__).resolve().parent / "static" / "dashboard"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)


class FloorPoint(Struct, kw_only=True):
    name: Annotated[str, doc("its name")]
    x: Annotated[float, doc("metres from the plan's left edge")]
    y: Annotated[float, doc("metres from the plan's top edge")]


class FloorOut(Struct, kw_only=True):
    """Metres; the origin is the plan's top-left corner."""

    width: Annotated[float, doc("metres")]
    height: Annotated[float, doc("metres")]
    kitchen_pass: Annotated[FloorPoint, doc("where the cooked dishes wait")]
    docks: Annotated[list[FloorPoint], doc("where robots charge")]
    tables: Annotated[
        list[FloorPoint], doc("the config's tables; `/api/tables` has the ones in SQL")
    ]
    waypoints: Annotated[list[FloorPoint], doc("the aisles the serving robots follow")]
    image_upload_id: Annotated[str | None, doc("the floor-plan image drawn under the map")] = None
    image: Annotated[str | None, doc("its content URL")] = None


class FloorImageIn(Request):
    upload_id: Annotated[
        Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$")] | None,
        doc("an image upload (null: no image)"),
    ]


routes = Routes("dashboard", "The staff dashboard's page, its files and the floor plan it draws.")
TYPES = {"js": "text/javascript", "css": "text/css", "html": "text/html"}


class FilePath(Struct, kw_only=True):
    name: Annotated[str, doc("a file of the dashboard, e.g. `main.js`")]


def _point(p: object) -> FloorPoint:
    return FloorPoint(name=p.name, x=p.x, y=p.y)  # type: ignore[attr-defined]


@routes.route("GET", "/api/floor", summary="The floor plan", roles=ALL_ROLES, response=FloorOut)
async def floor(request: web.Request) -> FloorOut:
    """Size, kitchen pass, docks, configured tables and aisle waypoints, in metres; the
    floor-plan image (an upload) when one is set."""
    f = request.app[SETTINGS].floor
    async with request.app[DB]() as s:
        plan = await s.get(FloorPlan, 1)
    image = plan.upload_id if plan is not None else None
    return FloorOut(
        image_upload_id=image,
        image=f"/api/uploads/{image}/content" if image else None,
        width=f.width,
        height=f.height,
        kitchen_pass=_point(f.kitchen_pass),
        docks=[_point(d) for d in f.docks],
        tables=[_point(t) for t in f.tables],
        waypoints=[_point(w) for w in f.waypoints],
    )


@routes.route(
    "PUT",
    "/api/floor/image",
    summary="Set (or clear) the floor-plan image",
    roles=ADMINS,
    body=FloorImageIn,
    response=FloorOut,
)
async def set_floor_image(request: web.Request, body: FloorImageIn) -> FloorOut:
    """`upload_id` of an image upload (422 otherwise), or null for none."""
    async with request.app[DB].begin() as s:
        if body.upload_id is not None:
            await require_image(s, body.upload_id, "upload_id")
        plan = await s.get(FloorPlan, 1)
        if plan is None:
            s.add(FloorPlan(id=1, upload_id=body.upload_id, updated_by=request[USER].username))
        else:
            plan.upload_id = body.upload_id
            plan.updated_by = request[USER].username
    out: FloorOut = await floor(request)
    return out


@routes.route(
    "GET", "/", summary="The staff dashboard", roles=None, raw=True, response_type="text/html"
)
async def index(request: web.Request) -> web.Response:
    """The single page; it logs in with /api/auth/login and keeps the token in localStorage."""
    return _file("index.html", _csp(request))


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


def _csp(request: web.Request) -> str:
    """The page's CSP; with the S3 store, images also come from the object store (the
    upload content route redirects there)."""
    media = request.app[SETTINGS].media
    if not media.url.startswith("s3://"):
        return CSP
    if media.s3_endpoint:
        parts = urlsplit(media.s3_endpoint)
        origin = f"{parts.scheme}://{parts.netloc}"
    else:
        origin = "https://*.amazonaws.com"
    return CSP.replace("img-src 'self' data:", f"img-src 'self' data: {origin}")


def _file(name: str, csp: str = CSP) -> web.Response:
    ext = name.rsplit(".", 1)[-1]
    path = STATIC / name
    if "/" in name or name.startswith(".") or ext not in TYPES or not path.is_file():
        raise web.HTTPNotFound()
    return web.Response(
        body=path.read_bytes(),
        content_type=TYPES[ext],
        charset="utf-8",
        headers={"Content-Security-Policy": csp, "Cache-Control": "no-cache"},
    )
