"""The names and addresses this box is reached by: the web tier's default origins and
the installer's self-signed certificate both need them.

Only the standard library (Linux: an ioctl per interface for IPv4, /proc for IPv6),
so loading settings stays cheap and never waits on DNS.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import socket
import struct
from pathlib import Path
from urllib.parse import urlsplit

_SIOCGIFADDR = 0x8915
LOOPBACK_NAMES = ("127.0.0.1", "localhost")
ANY = ("0.0.0.0", "::", "")  # every interface


def host_names() -> list[str]:
    """This box's host name and its mDNS name (``name.local``, as Avahi announces it)."""
    name = socket.gethostname().split(".")[0]
    return [name, f"{name}.local"] if name and name != "localhost" else []


def addresses() -> list[str]:
    """This box's unicast addresses, loopback and link-local left out."""
    out: list[str] = []
    with contextlib.suppress(OSError):
        for _, ifname in socket.if_nameindex():
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                packed = struct.pack("256s", ifname.encode()[:15])
                try:
                    raw = fcntl.ioctl(s.fileno(), _SIOCGIFADDR, packed)
                except OSError:
                    continue  # no IPv4 address on this interface
            out.append(socket.inet_ntoa(raw[20:24]))
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            hexaddr = line.split()[0]
            out.append(str(ipaddress.IPv6Address(bytes.fromhex(hexaddr))))
    return [a for a in dict.fromkeys(out) if _public_enough(a)]


def _public_enough(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast)


def origin(scheme: str, host: str, port: int) -> str:
    """``scheme://host[:port]`` as a browser writes it (default port left out, IPv6 in [])."""
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}" if port == default else f"{scheme}://{host}:{port}"


def own_origins(host: str, port: int, *, tls: bool, public_url: str = "") -> list[str]:
    """The origins a browser shows for a server listening on ``host:port``: that host,
    or every name and address of the box when it listens on all of them (``0.0.0.0``);
    plus the origin of ``public_url`` (a reverse proxy's address) when one is given."""
    scheme = "https" if tls else "http"
    if host in ANY:
        hosts = [*LOOPBACK_NAMES, *host_names(), *addresses()]
    elif host in (*LOOPBACK_NAMES, "::1"):
        hosts = [*LOOPBACK_NAMES, "::1"] if host == "::1" else list(LOOPBACK_NAMES)
    else:
        hosts = [host]
    out = [origin(scheme, h, port) for h in hosts]
    if public_url:
        u = urlsplit(public_url)
        if u.scheme and u.hostname:
            out.append(origin(u.scheme, u.hostname, u.port or {"https": 443}.get(u.scheme, 80)))
    return list(dict.fromkeys(out))
