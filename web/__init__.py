"""Robodine web tier: aiohttp views of the gateway's Redis streams (docs/api.md)."""

from web.app import WebConfigError, create_app

__all__ = ["WebConfigError", "create_app"]
