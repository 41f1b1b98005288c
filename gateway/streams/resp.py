"""Moved to robodine/resp.py (the web tier's hub reads through it too)."""

from robodine.resp import RespConnection

__all__ = ["RespConnection"]
