"""/api/uploads: stream a file into the media store, list, read, serve with ranges, delete."""

from __future__ import annotations

from urllib.parse import quote

import structlog
from aiohttp import web

from robodine.media import StoreError, TooLarge
from web.http import auth
from web.http.api import Routes, parse_path
from web.http.jsonutil import json_response
from web.keys import DB, MEDIA, SETTINGS, USER
from web.security import ADMINS, ALL_ROLES, WRITERS
from web.uploads.multipart import clean_filename, file_part, too_large
from web.uploads.raw import raw_body
from web.uploads.schemas import (
    RAW_UPLOAD,
    MultipartUpload,
    NewUploadQuery,
    UploadList,
    UploadOut,
    UploadPath,
    UploadsQuery,
)
from web.uploads.service import UploadService, store_problem
from web.uploads.serving import blob_response

log = structlog.get_logger("web.uploads")
routes = Routes(
    "uploads",
    "Files in the media store (menu photos, the floor plan, recordings, job outputs): "
    "streamed in with a size limit and a type allowlist, SHA-256 on the way. Upload: staff, "
    "admin; delete: admin.",
)
INLINE = ("image/", "video/", "application/pdf", "text/plain")


def _service(request: web.Request) -> UploadService:
    return UploadService(request.app[DB], request.app[MEDIA])


@routes.route(
    "POST",
    "/api/uploads",
    summary="Upload a file (the raw body with the file's type, or multipart/form-data)",
    roles=WRITERS,
    query=NewUploadQuery,
    response=UploadOut,
    status=201,
    raw_body={"multipart/form-data": MultipartUpload, "*/*": RAW_UPLOAD},
    own_body_limit=True,  # uploads.max_bytes, checked here, not web.max_body_bytes
    errors=(503, 507),
    headers=("Content-Disposition",),
    response_headers=("Location",),
)
async def create_upload(request: web.Request, query: NewUploadQuery) -> web.Response:
    """Two ways to send the file, both streamed to the store as they arrive, never held
    whole in memory. Raw: the file's bytes as the body, `Content-Type` the file's type,
    the name in `?filename=` (or `Content-Disposition: attachment; filename=...`); the
    cheaper one for scripts and integrations. Multipart: `multipart/form-data` with a
    part `file` (its filename and type), what an HTML form sends. Over
    `uploads.max_bytes`: 413 `upload_too_large` (at once when Content-Length says so); a
    type outside `uploads.types`: 415; an empty raw body: 400 `empty_upload`; a body that
    ends early: 400 `truncated_upload`. Nothing of a failed upload stays behind."""
    s = request.app[SETTINGS].uploads
    if request.content_type == "multipart/form-data":
        part = await file_part(request, s)
        filename, ctype, chunks = part.filename, part.content_type, part.chunks()
    else:
        raw = await raw_body(request, s, query.filename)
        filename, ctype, chunks = raw.filename, raw.content_type, raw.chunks()
    if query.filename is not None:
        filename = clean_filename(query.filename)
    try:
        out = await _service(request).save(
            chunks,
            filename=filename,
            content_type=ctype,
            created_by=request[USER].username,
            max_bytes=s.max_bytes,
        )
    except TooLarge:
        raise too_large(s.max_bytes) from None
    except StoreError as exc:
        log.warning("upload_store_failed", error=str(exc))
        raise store_problem(exc) from None
    log.info("uploaded", upload=out.id, size=out.size, type=out.content_type)
    return json_response(out, status=201, headers={"Location": f"/api/uploads/{out.id}"})


@routes.route(
    "GET",
    "/api/uploads",
    summary="List uploads, newest first",
    roles=ALL_ROLES,
    query=UploadsQuery,
    response=UploadList,
)
async def list_uploads(request: web.Request, query: UploadsQuery) -> UploadList:
    """Filter by `source` (upload, job) and `type` (exact, or a prefix ending in `/`)."""
    items, total = await _service(request).page(query)
    return UploadList(items=items, total=total)


@routes.route(
    "GET",
    "/api/uploads/{upload_id}",
    summary="One upload's metadata",
    roles=ALL_ROLES,
    params=UploadPath,
    response=UploadOut,
)
async def get_upload(request: web.Request, params: UploadPath) -> UploadOut:
    """One upload's record (not its bytes: `content` is their URL)."""
    return await _service(request).get(params.upload_id)


@routes.route(
    "GET",
    "/api/uploads/{upload_id}/content",
    summary="An upload's bytes (Range requests; a redirect to the object store for S3)",
    roles=ALL_ROLES,
    params=UploadPath,
    token_query=True,
    raw=True,
    response_type="application/octet-stream",
    errors=(401, 404, 416, 503),
    headers=("Range", "If-Range"),
    response_headers=("ETag",),
)
async def upload_content(request: web.Request) -> web.StreamResponse:
    """Local store: the file with `Range`/`If-Range` (206, 416), `ETag` and a long cache
    life (content-addressed, so it never changes). S3 store: 302 to a presigned URL valid
    for `media.presign_s`. `?token=` works for `<img src>`."""
    await auth.authenticate(request, allow_query=True)
    params = parse_path(request, UploadPath)
    row = await _service(request).row(params.upload_id)
    inline = row.content_type.startswith(INLINE)
    disposition = f"{'inline' if inline else 'attachment'}; filename*=UTF-8''{quote(row.filename)}"
    return await blob_response(
        request,
        row.key,
        content_type=row.content_type,
        filename=row.filename,
        disposition=disposition,
        what=f"upload {row.id}",
        headers={"Content-Security-Policy": "default-src 'none'; sandbox"},
    )


@routes.route(
    "DELETE",
    "/api/uploads/{upload_id}",
    summary="Delete an upload",
    roles=ADMINS,
    params=UploadPath,
    status=204,
    errors=(503,),
)
async def delete_upload(request: web.Request, params: UploadPath) -> None:
    """Menu photos and the floor plan that showed it are cleared. The blob is removed
    unless another upload has the same content."""
    try:
        await _service(request).delete(params.upload_id)
    except StoreError as exc:
        raise store_problem(exc) from None
