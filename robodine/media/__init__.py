"""The media store: uploads, job outputs and (later) camera recordings, by content address.

One interface (``MediaStore``), two backends: a local directory (the default)
and S3-compatible object storage (``s3://bucket/prefix``). ``open_store``
picks one from ``[media]``.
"""

from robodine.media.store import (
    Blob,
    MediaStore,
    StoreError,
    StoreFull,
    StoreUnavailable,
    TooLarge,
    blob_key,
    open_store,
)

__all__ = [
    "Blob",
    "MediaStore",
    "StoreError",
    "StoreFull",
    "StoreUnavailable",
    "TooLarge",
    "blob_key",
    "open_store",
]
