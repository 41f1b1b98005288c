"""/api/recordings (the index) and /videos/{id}.{avi|mp4} (the files), with auth."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from msgspec import Meta

from robodine.media import StoreError
from web.cameras.recordings import RecordingService, recording_out
from web.cameras.schemas import RecordingList, RecordingOut, RecordingPath, RecordingsQuery
from web.http.api import Routes
from web.http.problems import Problem
from web.http.schemas import Query
from web.keys import DB, MEDIA
from web.security import ADMINS, ALL_ROLES
from web.uploads.service import store_problem
from web.uploads.serving import blob_response

routes = Routes(
    "recordings",
    "Camera recordings `robodine recorder` keeps (docs/cameras.md): the index, and the "
    "files under /videos with Range requests. Read: all; delete: admin.",
)


class VideoPath(Query):
    name: Annotated[
        str, Meta(pattern=r"^[0-9a-f]{32}\.(avi|mp4)$", description="`{recording id}.{format}`")
    ]


def _service(request: web.Request) -> RecordingService:
    return RecordingService(request.app[DB], request.app[MEDIA])


@routes.route(
    "GET",
    "/api/recordings",
    summary="Recordings, newest first",
    roles=ALL_ROLES,
    query=RecordingsQuery,
    response=RecordingList,
)
async def list_recordings(request: web.Request, query: RecordingsQuery) -> RecordingList:
    """Filter by `robot`, `camera`, `reason` (`continuous`, `request`, `incident`) and time:
    `since` (ends after) and `until` (starts before), ISO 8601 with a zone. Paged with
    `limit` and `offset`; `total` counts every match."""
    items, total = await _service(request).page(query)
    return RecordingList(items=items, total=total)


@routes.route(
    "GET",
    "/api/recordings/{recording_id}",
    summary="One recording",
    roles=ALL_ROLES,
    params=RecordingPath,
    response=RecordingOut,
    errors=(404,),
)
async def get_recording(request: web.Request, params: RecordingPath) -> RecordingOut:
    """The index row of one recording; its file is at `url`. 404 for an unknown id."""
    return recording_out(await _service(request).row(params.recording_id))


@routes.route(
    "DELETE",
    "/api/recordings/{recording_id}",
    summary="Delete a recording",
    roles=ADMINS,
    params=RecordingPath,
    status=204,
    errors=(404, 503),
)
async def delete_recording(request: web.Request, params: RecordingPath) -> None:
    """Admins only. Removes the index row, then the file unless another recording shares
    its content; 503 `store_unavailable` when the media store fails (the row is gone by then)."""
    try:
        await _service(request).delete(params.recording_id)
    except StoreError as exc:
        raise store_problem(exc) from None


@routes.route(
    "GET",
    "/videos/{name}",
    summary="A recording's file (Range requests; a redirect to the object store for S3)",
    roles=ALL_ROLES,
    params=VideoPath,
    token_query=True,
    response_type="video/x-msvideo",
    errors=(401, 404, 416, 503),
)
async def video_file(request: web.Request, params: VideoPath) -> web.StreamResponse:
    """The name is the recording's id and format (`url` in `GET /api/recordings`), never a
    path: nothing else can be reached. Local store: the file with `Range`/`If-Range` (206,
    416), `ETag` and a long cache life (a recording never changes). S3 store: 302 to a
    presigned URL valid for `media.presign_s`. `?token=` works for `<video src>` and links."""
    rid, _, ext = params.name.partition(".")
    row = await _service(request).row(rid)
    if row.format != ext:
        raise Problem(404, "not_found", f"recording {rid} is {row.format}, not {ext}")
    filename = f"{row.robot}-{row.camera}-{row.started_at:%Y%m%dT%H%M%SZ}.{row.format}"
    return await blob_response(
        request,
        row.key,
        content_type=row.content_type,
        filename=filename,
        disposition=f'inline; filename="{filename}"',
        what=f"recording {rid}",
    )
