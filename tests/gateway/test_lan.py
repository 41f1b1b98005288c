"""A robot's place on the LAN: IP from the socket, MAC from the kernel's neighbour table."""

from __future__ import annotations

from pathlib import Path

from gateway.transports.lan import host_of, mac_of

ARP = """IP address       HW type     Flags       HW address            Mask     Device
192.168.1.20     0x1         0x2         b8:27:EB:12:34:56     *        eth0
192.168.1.21     0x1         0x0         00:00:00:00:00:00     *        eth0
192.168.1.22     0x1         0x0         dc:a6:32:00:00:01     *        eth0
"""


def test_the_mac_of_a_complete_entry_only(tmp_path: Path) -> None:
    table = tmp_path / "arp"
    table.write_text(ARP)
    assert mac_of("192.168.1.20", table) == "b8:27:eb:12:34:56"
    assert mac_of("::ffff:192.168.1.20", table) == "b8:27:eb:12:34:56"  # a dual-stack socket
    assert mac_of("192.168.1.21", table) == "", "incomplete: not resolved"
    assert mac_of("192.168.1.22", table) == "", "not flagged complete"
    assert mac_of("10.0.0.9", table) == "", "behind a router: not on this link"
    assert mac_of("127.0.0.1", table) == "" and mac_of("fe80::1", table) == ""
    assert mac_of("not an address", table) == ""
    assert mac_of("192.168.1.20", tmp_path / "missing") == "", "no table (not Linux)"


def test_the_host_of_a_peername() -> None:
    assert host_of(("10.0.0.7", 51234)) == "10.0.0.7"
    assert host_of(("fe80::1", 51234, 0, 2)) == "fe80::1"
    assert host_of(None) == "" and host_of("") == ""
