"""Which addresses an outbound webhook may reach: never the box itself, unless configured.

An endpoint's host is resolved and every address checked, when the endpoint
is registered and again on every delivery, by the resolver of the delivery's
own connector (a name that resolved to a LAN address at registration cannot
be switched to 127.0.0.1 later: DNS rebinding). Refused: loopback
(127.0.0.0/8, ::1), unspecified (0.0.0.0, ::), link-local (169.254.0.0/16,
the cloud metadata address among them, fe80::/10), multicast, reserved,
and any address of this machine's own interfaces (an address is ours when a
socket can bind to it). ``webhooks.allow_addresses`` lists addresses or
networks allowed all the same; ``webhooks.deny_private`` refuses RFC 1918
and unique-local addresses too. Redirects are not followed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from config.settings import WebhookSettings

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(ValueError):
    """The URL may not be used as a webhook endpoint; the message says why."""


def _own(addr: Address) -> bool:
    family = socket.AF_INET6 if addr.version == 6 else socket.AF_INET
    with contextlib.suppress(OSError), socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((str(addr), 0))
        return True
    return False


def refusal(addr: Address, policy: WebhookSettings) -> str | None:
    """Why ``addr`` may not be reached, or None when it may."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if any(addr in ipaddress.ip_network(n, strict=False) for n in policy.allow_addresses):
        return None
    if addr.is_loopback:
        return "a loopback address (this box)"
    if addr.is_unspecified:
        return "the unspecified address (this box)"
    if addr.is_link_local:
        return "a link-local address (this box's segment, cloud metadata)"
    if addr.is_multicast or addr.is_reserved:
        return "a multicast or reserved address"
    if policy.deny_private and addr.is_private:
        return "a private address (webhooks.deny_private)"
    if _own(addr):
        return "an address of this box"
    return None


def check_url(url: str, policy: WebhookSettings) -> tuple[str, int]:
    """(host, port) of a URL an endpoint may have, before any name is resolved."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused(f"not a URL: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("the URL must be http:// or https://")
    if policy.https_only and parts.scheme != "https":
        raise TargetRefused("the URL must be https:// (webhooks.https_only)")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("the URL may not carry a user or password; use the secret")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[Address]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(f"cannot resolve {host!r}: {exc}") from None
    return [ipaddress.ip_address(str(i[4][0]).split("%", 1)[0]) for i in infos]


async def check_target(url: str, policy: WebhookSettings) -> None:
    """Raise TargetRefused unless every address the URL's host resolves to may be reached."""
    host, port = check_url(url, policy)
    for addr in await resolve(host, port):
        why = refusal(addr, policy)
        if why is not None:
            raise TargetRefused(f"{host} is {addr}: {why}; refused for webhooks")


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, with every answer checked as above at connect time."""

    def __init__(self, policy: WebhookSettings) -> None:
        self.policy = policy
        self._inner = DefaultResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        for r in results:
            why = refusal(ipaddress.ip_address(r["host"]), self.policy)
            if why is not None:
                raise OSError(f"{host} is {r['host']}: {why}; refused for webhooks")
        return results

    async def close(self) -> None:
        await self._inner.close()


def connector_kwargs(policy: WebhookSettings) -> dict[str, Any]:
    return {"resolver": GuardedResolver(policy), "use_dns_cache": False}
