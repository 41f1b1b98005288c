"""Answer and query models of /api/uploads."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from msgspec import Meta, Struct

from web.http.schemas import Offset, Query

UploadId = Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$", description="32 hex digits")]


class UploadOut(Struct, kw_only=True):
    id: str
    filename: str
    content_type: str
    size: int  # bytes
    sha256: str  # hex digest of the content, computed while it streamed in
    store: str  # local | s3
    source: str  # upload (POST /api/uploads) | job (a job's output)
    created_by: str
    created_at: datetime
    content: str  # GET this for the bytes (ranges, or a redirect to the object store)


class UploadList(Struct, kw_only=True):
    items: list[UploadOut]
    total: int


class UploadPath(Query):
    upload_id: UploadId


class UploadsQuery(Query):
    source: Literal["upload", "job"] | None = None
    type: (
        Annotated[str, Meta(max_length=100, description="content type, or a prefix like image/")]
        | None
    ) = None
    limit: Annotated[int, Meta(ge=1, le=500)] = 100
    offset: Offset = 0


class MultipartUpload(Struct, kw_only=True):
    """multipart/form-data with one part named `file` (its filename and Content-Type count)."""

    file: Annotated[bytes, Meta(description="the file; its part's Content-Type must be allowed")]
