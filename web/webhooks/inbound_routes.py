"""POST /api/webhooks/analysis/{job_id}: the analysis service's verdict, signed, stored once."""

from __future__ import annotations

import time

import msgspec
import orjson
import structlog
from aiohttp import web
from redis.exceptions import RedisError

from robodine import signing
from web.db.media import JobRow
from web.http.api import Routes
from web.http.jsonutil import json_response
from web.http.problems import Problem, from_validation, not_found
from web.jobs.analysis import callback_key, job_secret, wake_key
from web.jobs.stream import TERMINAL, status_of
from web.keys import DB, JOBS, SETTINGS
from web.webhooks.schemas import AnalysisPath, AnalysisVerdict, VerdictAnswer

log = structlog.get_logger("web.webhooks")
routes = Routes("webhooks")
KEEP_S = 7 * 86400


@routes.route(
    "POST",
    "/api/webhooks/analysis/{job_id}",
    summary="The analysis service reports a verdict (signed)",
    roles=None,
    params=AnalysisPath,
    raw_body=("application/json", AnalysisVerdict),
    response=VerdictAnswer,
    status=202,
    errors=(401, 409, 503),
)
async def analysis_webhook(request: web.Request, params: AnalysisPath) -> web.Response:
    """Authenticated by `Robodine-Signature: t=<unix>,v1=<HMAC-SHA256 of "t." + body>` with
    the job's own secret (sent with the job as `Robodine-Webhook-Secret`); `t` must be within
    `jobs.webhook_window_s` of now. Missing, wrong or stale: 401 with `code`
    `signature_missing`, `signature_invalid`, `signature_expired`. The first valid verdict
    completes the job (202, `duplicate: false`); a repeat changes nothing (200,
    `duplicate: true`). A job that ended otherwise (timed out, cancelled): 409."""
    s = request.app[SETTINGS].jobs
    if s.webhook_secret is None:
        raise Problem(503, "not_configured", "jobs.webhook_secret is not set")
    body = await request.read()
    secret = job_secret(s.webhook_secret.get_secret_value().encode(), params.job_id).encode()
    try:
        signing.verify(
            secret,
            body,
            request.headers.get(signing.HEADER),
            now=time.time(),
            window_s=s.webhook_window_s,
        )
    except signing.SignatureError as exc:
        log.warning("webhook_rejected", job=params.job_id, code=exc.code)
        raise Problem(
            401, exc.code, exc.detail, field=signing.HEADER, extra={"in": "header"}
        ) from None
    try:
        verdict = msgspec.convert(orjson.loads(body), AnalysisVerdict, strict=True)
    except orjson.JSONDecodeError as exc:
        raise Problem(400, "invalid_json", f"the body is not valid JSON: {exc}") from None
    except msgspec.ValidationError as exc:
        raise from_validation(exc) from None
    async with request.app[DB]() as sess:
        row = await sess.get(JobRow, params.job_id)
    if row is None or row.kind != "analysis":
        raise not_found("analysis job", params.job_id)
    redis = request.app[JOBS].redis
    key = callback_key(params.job_id)
    try:
        stored = await redis.set(key, body, nx=True, ex=KEEP_S)
        if not stored:
            return json_response(VerdictAnswer(accepted=True, duplicate=True), status=200)
        live = await request.app[JOBS].live(params.job_id)
        if live is None or status_of(live) in TERMINAL:
            await redis.delete(key)
            state = "gone" if live is None else str(status_of(live))
            raise Problem(409, "job_finished", f"job {params.job_id} is {state}; too late")
        wake = wake_key(params.job_id)
        async with redis.pipeline(transaction=True) as pipe:
            pipe.rpush(wake, b"1")
            pipe.expire(wake, KEEP_S)
            await pipe.execute()
    except RedisError as exc:
        raise Problem(503, "queue_unavailable", f"Redis is unavailable: {exc}") from None
    log.info("analysis_verdict", job=params.job_id, status=verdict.status)
    return json_response(VerdictAnswer(accepted=True, duplicate=False), status=202)
