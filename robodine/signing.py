"""Webhook signatures, both ways: ``Robodine-Signature: t=<unix>,v1=<hex>``.

``v1`` is HMAC-SHA256 over ``f"{t}.".encode() + body`` with the shared
secret, as Stripe signs its webhooks: the timestamp is inside the MAC, so a
captured request cannot be replayed after the window (default 300 s), and a
body changed by one byte fails. A header may carry several ``v1`` values
(the secret being rotated); one match is enough. Sans-IO: bytes in, a
verdict out.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

HEADER: Final = "Robodine-Signature"
SCHEME: Final = "v1"


class SignatureError(ValueError):
    """Why a signature does not verify; ``code`` is the problem code the API answers."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int) -> str:
    """The header value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    return f"t={timestamp},{SCHEME}={mac(secret, timestamp, body)}"


def verify(secret: bytes, body: bytes, header: str | None, *, now: float, window_s: float) -> int:
    """The signed timestamp when ``header`` is a valid signature of ``body``; else raises."""
    if not header:
        raise SignatureError("signature_missing", f"the {HEADER} header is missing")
    ts: int | None = None
    sigs: list[str] = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            try:
                ts = int(value)
            except ValueError:
                raise SignatureError("signature_invalid", "t= is not a Unix time") from None
        elif key == SCHEME:
            sigs.append(value)
    if ts is None or not sigs:
        raise SignatureError("signature_invalid", f"{HEADER}: expected t=<unix>,v1=<hex>")
    if abs(now - ts) > window_s:
        raise SignatureError(
            "signature_expired", f"the signed timestamp is more than {window_s:.0f} s from now"
        )
    want = mac(secret, ts, body)
    if not any(hmac.compare_digest(want, s) for s in sigs):
        raise SignatureError("signature_invalid", "the signature does not match the body")
    return ts


def derived_secret(master: bytes, purpose: str, ident: str) -> str:
    """A secret of its own per ``ident`` (a job id), from one configured master secret."""
    return hmac.new(master, f"robodine/{purpose}\n{ident}".encode(), hashlib.sha256).hexdigest()
