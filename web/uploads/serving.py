"""A blob of the media store as an HTTP answer: the file itself from a local store (Range,
ETag, a year's cache life: a blob never changes), a redirect to a presigned URL from S3."""

from __future__ import annotations

from aiohttp import web

from robodine.media import StoreError
from web.http.problems import Problem
from web.keys import MEDIA, SETTINGS
from web.uploads.service import store_problem


async def blob_response(
    request: web.Request,
    key: str,
    *,
    content_type: str,
    filename: str,
    disposition: str,
    what: str,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """``disposition``: the Content-Disposition of a local file; ``what`` names the blob in
    the 503 when its file is missing; ``headers``: more for the local file."""
    store = request.app[MEDIA]
    path = store.local_path(key)
    if path is not None:
        if not path.is_file():
            raise Problem(503, "store_unavailable", f"the blob of {what} is missing")
        return web.FileResponse(
            path,
            headers={
                "Content-Type": content_type,
                "Content-Disposition": disposition,
                "Cache-Control": "private, max-age=31536000, immutable",
                "X-Content-Type-Options": "nosniff",
                **(headers or {}),
            },
        )
    try:
        url = await store.presigned_url(
            key,
            content_type=content_type,
            filename=filename,
            expires_s=request.app[SETTINGS].media.presign_s,
        )
    except StoreError as exc:
        raise store_problem(exc) from None
    if url is None:  # pragma: no cover - every store either has files or presigns
        raise Problem(503, "store_unavailable", "the store can neither serve nor presign")
    return web.Response(status=302, headers={"Location": url, "Cache-Control": "no-store"})
