"""``analysis``: send an upload to the external analysis service, then wait for its webhook.

The media is POSTed as the request body (streamed from the store) with
``Authorization: Bearer {jobs.analysis_token}``, ``Idempotency-Key`` (the job
id: a retried submit is the same request), the callback URL and the job's
own webhook secret. The service answers 2xx at once and later POSTs its
verdict, signed with that secret, to ``/api/webhooks/analysis/{job_id}``;
the web tier stores it (once) and wakes the job, which completes with it.
A submit that answers 5xx or times out is retried with backoff; a 4xx, a
verdict of ``failed`` or no webhook within ``jobs.analysis_wait_s`` fails the
job with the reason.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any, Final

import aiohttp
import orjson
from msgspec import Meta, Struct

from robodine import signing
from robodine.redisio.keys import KEYS
from web.http.problems import Problem
from web.jobs.runtime import JobContext, JobFailed, kind

POLL_S: Final = 2  # BLPOP timeout; the worker's client waits this plus a margin for a reply


def callback_key(job_id: str) -> str:
    """The verdict the analysis service posted (set once: a repeat changes nothing)."""
    return KEYS.job_callback_prefix + job_id


def wake_key(job_id: str) -> str:
    """A list the waiting job BLPOPs: the webhook pushes to it."""
    return KEYS.job_wake_prefix + job_id


def job_secret(master: bytes, job_id: str) -> str:
    return signing.derived_secret(master, "analysis-webhook", job_id)


class AnalysisIn(Struct, forbid_unknown_fields=True, kw_only=True):
    upload_id: Annotated[str, Meta(pattern=r"^[0-9a-f]{32}$")]
    params: dict[str, Any] = {}  # passed to the service as the Robodine-Params header (JSON)


def _timeout(s: Any) -> int:
    return int(s.jobs.analysis_wait_s + s.jobs.analysis_timeout_s + 30)


@kind(
    "analysis",
    AnalysisIn,
    "Send an upload to the analysis service and complete with its webhook's verdict.",
    timeout_s=_timeout,
)
async def analysis(ctx: JobContext, inp: AnalysisIn) -> dict[str, Any]:
    s = ctx.settings.jobs
    if not s.analysis_url or s.webhook_secret is None:
        raise JobFailed(
            "the analysis service is not configured (jobs.analysis_url, jobs.webhook_secret)",
            permanent=True,
        )
    try:
        row = await ctx.uploads.row(inp.upload_id)
    except Problem:
        raise JobFailed(f"invalid input: no upload {inp.upload_id!r}", permanent=True) from None
    verdict = await ctx.redis.get(callback_key(ctx.id))
    if verdict is None:
        if not await ctx.redis.exists(KEYS.job_submitted_prefix + ctx.id):
            await ctx.progress(0.05, "sending to the analysis service")
            await _submit(ctx, row.key, row.content_type, row.filename, inp.params)
            await ctx.redis.set(KEYS.job_submitted_prefix + ctx.id, "1", ex=s.analysis_wait_s * 2)
        await ctx.progress(0.2, "waiting for the analysis service")
        verdict = await _wait(ctx, s.analysis_wait_s)
    data = orjson.loads(verdict)
    if data.get("status") == "failed":
        raise JobFailed(
            f"analysis failed: {data.get('error') or 'no reason given'}", permanent=True
        )
    await ctx.progress(1.0, "analysed")
    return {"upload_id": inp.upload_id, "analysis": data.get("result", {})}


async def _submit(
    ctx: JobContext, key: str, ctype: str, filename: str, params: dict[str, Any]
) -> None:
    s = ctx.settings.jobs

    async def body() -> AsyncIterator[bytes]:
        async for chunk in ctx.store.read(key):
            yield chunk

    headers = {
        "Content-Type": ctype,
        "Idempotency-Key": ctx.id,
        "Robodine-Job-Id": ctx.id,
        "Robodine-Filename": filename.encode("ascii", "replace").decode(),
        "Robodine-Callback-Url": f"{s.public_url}/api/webhooks/analysis/{ctx.id}",
        "Robodine-Webhook-Secret": job_secret(_master(ctx), ctx.id),
        "Robodine-Params": orjson.dumps(params).decode(),
    }
    if s.analysis_token is not None:
        headers["Authorization"] = f"Bearer {s.analysis_token.get_secret_value()}"
    try:
        async with ctx.http.post(
            s.analysis_url,
            data=body(),
            headers=headers,
            allow_redirects=False,
            timeout=aiohttp.ClientTimeout(total=s.analysis_timeout_s),
        ) as r:
            text = (await r.text(errors="replace"))[:200]
            if 200 <= r.status < 300:
                return
            permanent = 400 <= r.status < 500 and r.status not in (408, 429)
            raise JobFailed(
                f"analysis service answered {r.status}: {text}".strip(": "), permanent=permanent
            )
    except TimeoutError:
        raise JobFailed(f"analysis service timed out after {s.analysis_timeout_s:g} s") from None
    except aiohttp.ClientError as exc:
        raise JobFailed(f"analysis service unreachable: {exc}") from None


def _master(ctx: JobContext) -> bytes:
    secret = ctx.settings.jobs.webhook_secret
    assert secret is not None
    return secret.get_secret_value().encode()


async def _wait(ctx: JobContext, wait_s: int) -> str:
    deadline = time.monotonic() + wait_s
    while (left := deadline - time.monotonic()) > 0:
        await ctx.redis.blpop([wake_key(ctx.id)], timeout=min(POLL_S, max(1, int(left))))
        verdict = await ctx.redis.get(callback_key(ctx.id))
        if verdict is not None:
            return str(verdict)
    raise JobFailed(f"no webhook from the analysis service within {wait_s} s", permanent=True)
