"""Uploads in SQL and the store: write the blob first, then the row, so a row is always whole.

Blobs are content-addressed, so two uploads of the same bytes share one blob;
deleting an upload removes the blob only when no other row names it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from robodine.media import MediaStore, StoreError, StoreFull
from web.db.blobs import still_named
from web.db.media import FloorPlan, Upload
from web.db.restaurant import MenuItem
from web.http.problems import Problem, not_found
from web.uploads.schemas import UploadOut, UploadsQuery


def store_problem(exc: StoreError) -> Problem:
    """A store's refusal as the API answers it: 507 when full, else 503."""
    if isinstance(exc, StoreFull):
        return Problem(507, "store_full", str(exc))
    return Problem(503, "store_unavailable", str(exc))


def upload_out(u: Upload) -> UploadOut:
    return UploadOut(
        id=u.id,
        filename=u.filename,
        content_type=u.content_type,
        size=u.size,
        sha256=u.sha256,
        store=u.store,
        source=u.source,
        created_by=u.created_by,
        created_at=u.created_at,
        content=f"/api/uploads/{u.id}/content",
    )


class UploadService:
    def __init__(self, db: async_sessionmaker[AsyncSession], store: MediaStore) -> None:
        self.db = db
        self.store = store

    async def save(
        self,
        chunks: AsyncIterable[bytes],
        *,
        filename: str,
        content_type: str,
        created_by: str,
        max_bytes: int | None = None,
        source: str = "upload",
    ) -> UploadOut:
        """Stream into the store (TooLarge, StoreFull, StoreUnavailable pass through)."""
        blob = await self.store.put(chunks, max_bytes=max_bytes)
        row = Upload(
            id=uuid.uuid4().hex,
            filename=filename,
            content_type=content_type,
            size=blob.size,
            sha256=blob.sha256,
            key=blob.key,
            store=self.store.name,
            source=source,
            created_by=created_by,
        )
        async with self.db.begin() as s:
            s.add(row)
        return upload_out(row)

    async def page(self, q: UploadsQuery) -> tuple[list[UploadOut], int]:
        stmt = select(Upload)
        if q.source is not None:
            stmt = stmt.where(Upload.source == q.source)
        if q.type:
            stmt = stmt.where(
                Upload.content_type.startswith(q.type, autoescape=True)
                if q.type.endswith("/")
                else Upload.content_type == q.type
            )
        async with self.db() as s:
            total = int(await s.scalar(select(func.count()).select_from(stmt.subquery())) or 0)
            rows = await s.scalars(
                stmt.order_by(Upload.created_at.desc(), Upload.id).limit(q.limit).offset(q.offset)
            )
            return [upload_out(u) for u in rows], total

    async def row(self, upload_id: str) -> Upload:
        async with self.db() as s:
            u = await s.get(Upload, upload_id)
        if u is None:
            raise not_found("upload", upload_id)
        return u

    async def get(self, upload_id: str) -> UploadOut:
        return upload_out(await self.row(upload_id))

    async def delete(self, upload_id: str) -> None:
        """The row goes (menu photos and the floor plan that named it are cleared); the
        blob goes too unless another upload or a recording has the same content."""
        async with self.db.begin() as s:
            u = await s.get(Upload, upload_id)
            if u is None:
                raise not_found("upload", upload_id)
            await s.execute(
                update(MenuItem)
                .where(MenuItem.photo_upload_id == upload_id)
                .values(photo_upload_id=None)
            )
            await s.execute(
                update(FloorPlan).where(FloorPlan.upload_id == upload_id).values(upload_id=None)
            )
            await s.delete(u)
            await s.flush()
            shared = await still_named(s, u.sha256)
            key = u.key
        if not shared:
            await self.store.delete(key)


async def require_image(s: AsyncSession, upload_id: str, field: str) -> None:
    """422 unless the upload exists and is an image (menu photos, the floor plan)."""
    u = await s.get(Upload, upload_id)
    if u is None:
        raise Problem(422, "invalid_field", f"{field}: no upload {upload_id!r}", field=field)
    if not u.content_type.startswith("image/"):
        raise Problem(
            422,
            "invalid_field",
            f"{field}: upload {upload_id!r} is {u.content_type}, not an image",
            field=field,
        )
