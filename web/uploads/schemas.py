"""Answer and query models of /api/uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from web.http.schemas import Offset, Query, doc

UploadId = Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]


class UploadOut(Struct, kw_only=True):
    id: Annotated[str, doc("the upload's id")]
    filename: Annotated[str, doc("as uploaded")]
    content_type: Annotated[str, doc("as uploaded", "image/jpeg")]
    size: Annotated[int, doc("bytes")]
    sha256: Annotated[str, doc("hex digest of the content, computed while it streamed in")]
    store: Annotated[str, doc("`local` or `s3`")]
    source: Annotated[str, doc("`upload` (POST /api/uploads) or `job` (a job's output)")]
    created_by: Annotated[str, doc("who uploaded it")]
    created_at: Annotated[datetime, doc("when")]
    content: Annotated[
        str, doc("GET this for the bytes (ranges, or a redirect to the object store)")
    ]


class UploadList(Struct, kw_only=True):
    items: Annotated[list[UploadOut], doc("this page, newest first")]
    total: Annotated[int, doc("uploads that match, in all")]


class UploadPath(Query):
    upload_id: UploadId


class NewUploadQuery(Query):
    filename: (
        Annotated[
            str,
            Meta(min_length=1, max_length=1024),
            doc(
                "the file's name: for a raw body (else its `Content-Disposition` filename, "
                "else `upload`); wins over a multipart part's filename",
                "menu.png",
            ),
        ]
        | None
    ) = None


class UploadsQuery(Query):
    source: Annotated[Literal["upload", "job"] | None, doc("only uploads or only job outputs")] = (
        None
    )
    type: (
        Annotated[str, Meta(max_length=100, description="content type, or a prefix like image/")]
        | None
    ) = None
    limit: Annotated[int, Meta(ge=1, le=500), doc("uploads per page at most")] = 100
    offset: Offset = 0


RAW_UPLOAD = {
    "type": "string",
    "contentMediaType": "application/octet-stream",
    "description": "the file's bytes as the whole body; the Content-Type is the file's own "
    "(one of `uploads.types`), the name comes from `?filename=` or `Content-Disposition`",
}


class MultipartUpload(Struct, kw_only=True):
    """multipart/form-data with one part named `file` (its filename and Content-Type count)."""

    file: Annotated[bytes, Meta(description="the file; its part's Content-Type must be allowed")]
