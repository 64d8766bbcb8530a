"""Where tests may send traffic: loopback, and the documentation ranges the sandbox's guests
use — only while a test-made interface routes them (the sandbox's bridge is up), or from inside a
network namespace the tests made. Names resolve only from /etc/hosts: a DNS query leaves the
machine. Everything else — this machine's own 192.0.2.0/24, 169.254.169.254 from the host, a
public address, a fuzzed or mistyped name — is refused."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Guests' ranges (the sandbox's defaults, and another range for parallel sandboxes).
GUEST_NETS: tuple[IPNetwork, ...] = (
    ipaddress.ip_network("198.51.100.0/24"), ipaddress.ip_network("203.0.113.0/24"),
    ipaddress.ip_network("2001:db8::/32"))
# The metadata service, as guests inside their own namespaces see it.
METADATA = (ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fe80::a9fe:a9fe"))
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_RTF_GATEWAY, _RTF_REJECT = 0x0002, 0x0200


def netns_id() -> int:
    """The network namespace this thread is in (its inode)."""
    return os.stat("/proc/thread-self/ns/net").st_ino


def _routes4(text: str) -> Iterable[tuple[IPNetwork, str, bool]]:
    for line in text.splitlines()[1:]:
        f = line.split()
        if len(f) < 8:
            continue
        dest = ipaddress.IPv4Address(bytes.fromhex(f[1])[::-1])
        mask = bytes.fromhex(f[7])[::-1]
        plen = bin(int.from_bytes(mask, "big")).count("1")
        yield ipaddress.ip_network(f"{dest}/{plen}", strict=False), f[0], plen == 0


def _routes6(text: str) -> Iterable[tuple[IPNetwork, str, bool]]:
    for line in text.splitlines():
        f = line.split()
        if len(f) < 10 or int(f[8], 16) & _RTF_REJECT:
            continue
        plen = int(f[1], 16)
        dest = ipaddress.IPv6Address(bytes.fromhex(f[0]))
        yield ipaddress.ip_network(f"{dest}/{plen}", strict=False), f[9], plen == 0


def _read(path: str) -> str:
    try:
        with open(path) as fh:
            return fh.read()
    except OSError:
        return ""


def routes() -> list[tuple[IPNetwork, str, bool]]:
    """(network, interface, is default) of this namespace's IPv4 and IPv6 routes."""
    return [*_routes4(_read("/proc/net/route")), *_routes6(_read("/proc/net/ipv6_route"))]


def routed_by_test_interface(ip: IPAddress, table: list[tuple[IPNetwork, str, bool]]) -> bool:
    """A route other than a default one covers ip, on an interface no default route uses."""
    uplinks = {dev for _, dev, default in table if default}
    return any(ip.version == net.version and ip in net and not default and dev not in uplinks
               for net, dev, default in table)


def address_allowed(host: str, in_test_netns: bool,
                    table: list[tuple[IPNetwork, str, bool]] | None = None) -> bool:
    """May a test connect or send to this numeric address?"""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_loopback or ip.is_unspecified:
        return True
    if in_test_netns:
        return ip in METADATA or any(ip in net for net in GUEST_NETS if ip.version == net.version)
    if not any(ip in net for net in GUEST_NETS if ip.version == net.version):
        return False
    return routed_by_test_interface(ip, routes() if table is None else table)


def etc_hosts(text: str | None = None) -> dict[str, set[str]]:
    """name -> addresses from /etc/hosts (what resolves without a DNS query)."""
    names: dict[str, set[str]] = {}
    for line in (_read("/etc/hosts") if text is None else text).splitlines():
        fields = line.split("#", 1)[0].split()
        for name in fields[1:]:
            names.setdefault(name.lower(), set()).add(fields[0])
    return names


def name_allowed(host: str | bytes | None, hosts: dict[str, set[str]]) -> bool:
    """May a test resolve this name? Numeric addresses need no resolution (connect checks
    them); names only from /etc/hosts."""
    if host is None or host in ("", b""):
        return True
    text = host.decode("ascii", "replace") if isinstance(host, bytes) else host
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
        return True
    except ValueError:
        pass
    return text.lower().rstrip(".") in LOCAL_NAMES or text.lower().rstrip(".") in hosts


def sockaddr_host(family: int, address: object) -> str | None:
    """The host part of an AF_INET/AF_INET6 address; None for other families."""
    if family not in (socket.AF_INET, socket.AF_INET6):
        return None
    if isinstance(address, tuple) and address:
        host = address[0]
        return host.decode() if isinstance(host, bytes) else str(host)
    return ""
