"""Which rows name a blob of the media store: uploads and recordings share one
content-addressed store, so a blob goes only when no row of either names it."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from web.db.media import Upload
from web.db.recordings import Recording


async def still_named(s: AsyncSession, sha256: str) -> bool:
    """Does any upload or recording (after this transaction's deletes) name this content?"""
    for table in (Upload, Recording):
        n = await s.scalar(select(func.count()).select_from(table).where(table.sha256 == sha256))
        if n:
            return True
    return False
