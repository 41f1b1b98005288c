"""Where a robot is on the LAN: its IP address from the connection, its MAC from the
kernel's neighbour table when the robot is on the same link (``/proc/net/arp``, IPv4).

Read at the edge, once per connection: the fleet records what it is given.
A robot behind a router, or reached over IPv6, has no entry there: its MAC
stays unknown (empty), never guessed.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Final

ARP_TABLE: Final = Path("/proc/net/arp")
_INCOMPLETE: Final = "00:00:00:00:00:00"


def host_of(peername: Any) -> str:
    """The IP address of a socket's peer (``('10.0.0.7', 51234)`` -> ``10.0.0.7``)."""
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return ""


def mac_of(ip: str, table: Path = ARP_TABLE) -> str:
    """The MAC the kernel has for ``ip`` (complete entries only), lower case; empty if none."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    if addr.version != 4 or addr.is_loopback:
        return ""
    try:
        lines = table.read_text().splitlines()[1:]  # "IP address  HW type  Flags  HW address ..."
    except OSError:
        return ""
    for line in lines:
        cols = line.split()
        if len(cols) >= 4 and cols[0] == str(addr):
            flags, mac = cols[2], cols[3].lower()
            if int(flags, 16) & 0x2 and mac != _INCOMPLETE:  # ATF_COM: a complete entry
                return mac
    return ""
