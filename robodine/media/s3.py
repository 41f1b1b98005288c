"""The S3-compatible media store (AWS S3, MinIO, Ceph RGW, Garage) through aiobotocore.

``s3://bucket/prefix``: blobs live under ``prefix/sha256/ab/<hex>``. A write
streams to ``prefix/.tmp/<random>`` (one PutObject when it fits in one part,
else a multipart upload of ``s3_part_bytes`` parts, so memory holds one part
at most), then is copied server-side to its content address and the
temporary object deleted. An object appears under its final name only whole
(S3 writes are atomic per object); a failed write aborts the multipart
upload and deletes the temporary object.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.exceptions import BotoCoreError, ClientError

from config.settings import MediaSettings
from robodine.media.store import Blob, Hasher, MediaStore, StoreFull, StoreUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client

READ_CHUNK = 1024 * 1024
HASH_OFF_LOOP = 256 * 1024  # chunks this large are hashed in a worker thread
_FULL = {"QuotaExceeded", "XMinioStorageFull", "EntityTooLarge", "InsufficientStorage"}


def _error(exc: Exception, what: str) -> Exception:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _FULL:
            return StoreFull(f"object store full ({code}) while {what}")
        return StoreUnavailable(f"object store refused {what}: {code or exc}")
    return StoreUnavailable(f"object store unreachable while {what}: {exc}")


def _missing(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code", "")
    return code in ("404", "NoSuchKey", "NotFound")


class S3Store(MediaStore):
    name = "s3"

    def __init__(
        self, client: S3Client, stack: AsyncExitStack, bucket: str, prefix: str, part_bytes: int
    ) -> None:
        self.client = client
        self._stack = stack
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.part_bytes = part_bytes

    @classmethod
    async def open(cls, s: MediaSettings) -> S3Store:
        bucket, _, prefix = s.url.removeprefix("s3://").partition("/")
        creds: dict[str, Any] = {}
        if s.s3_access_key is not None and s.s3_secret_key is not None:
            creds = {
                "aws_access_key_id": s.s3_access_key.get_secret_value(),
                "aws_secret_access_key": s.s3_secret_key.get_secret_value(),
            }
        config = AioConfig(
            connect_timeout=s.timeout_s,
            read_timeout=s.timeout_s,
            retries={"max_attempts": 2, "mode": "standard"},
            signature_version="s3v4",
            s3={"addressing_style": "path"} if s.s3_endpoint else None,
        )
        stack = AsyncExitStack()
        client = await stack.enter_async_context(
            get_session().create_client(
                "s3",
                region_name=s.s3_region,
                endpoint_url=s.s3_endpoint or None,
                config=config,
                **creds,
            )
        )
        return cls(client, stack, bucket, prefix, s.s3_part_bytes)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    async def put(self, chunks: AsyncIterable[bytes], *, max_bytes: int | None = None) -> Blob:
        hasher = Hasher(max_bytes)
        tmp = self._key(f".tmp/{secrets.token_hex(16)}")
        upload_id: str | None = None
        parts: list[dict[str, Any]] = []
        buf = bytearray()
        written = False
        try:
            async for chunk in chunks:
                if len(chunk) >= HASH_OFF_LOOP:  # the loop serves others meanwhile
                    await asyncio.to_thread(hasher.update, chunk)
                else:
                    hasher.update(chunk)
                buf += chunk
                while len(buf) >= self.part_bytes:
                    if upload_id is None:
                        r = await self.client.create_multipart_upload(Bucket=self.bucket, Key=tmp)
                        upload_id = r["UploadId"]
                    body = bytes(buf[: self.part_bytes])
                    del buf[: self.part_bytes]
                    n = len(parts) + 1
                    r2 = await self.client.upload_part(
                        Bucket=self.bucket, Key=tmp, UploadId=upload_id, PartNumber=n, Body=body
                    )
                    parts.append({"ETag": r2["ETag"], "PartNumber": n})
            if upload_id is None:
                await self.client.put_object(Bucket=self.bucket, Key=tmp, Body=bytes(buf))
            else:
                if buf or not parts:
                    n = len(parts) + 1
                    r2 = await self.client.upload_part(
                        Bucket=self.bucket,
                        Key=tmp,
                        UploadId=upload_id,
                        PartNumber=n,
                        Body=bytes(buf),
                    )
                    parts.append({"ETag": r2["ETag"], "PartNumber": n})
                await self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=tmp,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
                upload_id = None
            written = True
            blob = hasher.blob()
            final = self._key(blob.key)
            if await self.size(blob.key) is None:
                await self.client.copy_object(
                    Bucket=self.bucket, Key=final, CopySource={"Bucket": self.bucket, "Key": tmp}
                )
            return blob
        except (ClientError, BotoCoreError) as exc:  # the source's own errors pass through
            raise _error(exc, "writing a blob") from exc
        finally:
            with contextlib.suppress(ClientError, BotoCoreError, OSError):
                if upload_id is not None:
                    await self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=tmp, UploadId=upload_id
                    )
                if written:
                    await self.client.delete_object(Bucket=self.bucket, Key=tmp)

    async def size(self, key: str) -> int | None:
        try:
            r = await self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            if _missing(exc):
                return None
            raise _error(exc, "reading a blob's size") from exc
        except (BotoCoreError, OSError) as exc:
            raise _error(exc, "reading a blob's size") from exc
        return int(r["ContentLength"])

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        args: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key)}
        if start or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end - 1}"
        try:
            r = await self.client.get_object(**args)
            async with r["Body"] as body:
                while chunk := await body.read(READ_CHUNK):
                    yield chunk
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _error(exc, "reading a blob") from exc

    async def delete(self, key: str) -> None:
        try:
            await self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _error(exc, "deleting a blob") from exc

    async def presigned_url(
        self, key: str, *, content_type: str, filename: str, expires_s: int
    ) -> str | None:
        return await self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentType": content_type,
                "ResponseContentDisposition": f"inline; filename*=UTF-8''{_quote(filename)}",
            },
            ExpiresIn=expires_s,
        )

    async def check(self) -> None:
        try:
            await self.client.head_bucket(Bucket=self.bucket)
        except (ClientError, BotoCoreError, OSError) as exc:
            raise _error(exc, f"opening bucket {self.bucket!r}") from exc

    async def close(self) -> None:
        await self._stack.aclose()


def _quote(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")
