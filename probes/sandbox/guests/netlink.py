"""The ``ip`` command (iproute2) for namespace guests, and the host-overlap check.

We drive iproute2 rather than netlink directly: it is on every Debian host, its JSON output is
stable, and a failing step reads as the command an operator would type.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
from collections.abc import Iterable, Sequence
from typing import Any

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_TIMEOUT = 10.0
# Ranges that must never be handed to guests on these machines, whatever the config says.
FORBIDDEN = (ipaddress.ip_network("192.0.2.0/24"),)
# Ranges with a meaning of their own: a bridge address there would change how the host reaches
# e.g. its own 169.254.169.254, so no subnet may touch them.
_SPECIAL = tuple((ipaddress.ip_network(net), why) for net, why in (
    ("0.0.0.0/8", "'this network'"), ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local (the metadata address)"), ("224.0.0.0/3", "multicast/reserved"),
    ("::/127", "unspecified/loopback"), ("fe80::/10", "link-local"), ("ff00::/8", "multicast"),
))


class IpError(Exception):
    """An ``ip`` command failed; the message is the command and its error, on one line."""


def ip(*args: str, netns: str | None = None, stdin: str | None = None) -> str:
    """Run ``ip [-n NS] ARGS`` and return its stdout, or raise IpError."""
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True,
                              timeout=_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise IpError(f"{' '.join(cmd)}: {exc}") from None
    if proc.returncode != 0:
        error = " ".join(proc.stderr.split()) or f"exit {proc.returncode}"
        raise IpError(f"{' '.join(cmd)}: {error}")
    return proc.stdout


def batch(commands: Sequence[str], netns: str | None = None) -> None:
    """Run several ``ip`` commands in one process (``ip -batch -``); stop at the first error."""
    ip("-batch", "-", netns=netns, stdin="\n".join(commands) + "\n")


def _json(*args: str) -> list[dict[str, Any]]:
    out = ip("-j", *args)
    data = json.loads(out or "[]")
    return data if isinstance(data, list) else []


def links(netns: str | None = None) -> list[dict[str, Any]]:
    """Every interface (``ip -d -j link``), with its alias and master."""
    data = json.loads(ip("-d", "-j", "link", "show", netns=netns) or "[]")
    return data if isinstance(data, list) else []


def host_networks() -> list[tuple[IpNetwork, str]]:
    """Every address and route the host namespace has, with a description for messages."""
    found: list[tuple[IpNetwork, str]] = []
    for family in ("-4", "-6"):
        for link in _json(family, "addr", "show"):
            for info in link.get("addr_info") or []:
                local, plen = info.get("local"), info.get("prefixlen")
                if local is None or plen is None:
                    continue
                net = ipaddress.ip_network(f"{local}/{plen}", strict=False)
                name = str(link.get("ifname"))
                what = f"address {local}/{plen} on {name}"
                if name.startswith("fpsb"):
                    what += (" (another sandbox runs, or a killed one left it: "
                             f"ip link del {name})")
                found.append((net, what))
        for route in _json(family, "route", "show", "table", "all"):
            dst = str(route.get("dst", ""))
            if dst in ("", "default") or route.get("type") in ("local", "broadcast",
                                                                 "multicast", "anycast"):
                continue
            try:
                net = ipaddress.ip_network(dst if "/" in dst else f"{dst}/"
                                           f"{32 if ':' not in dst else 128}", strict=False)
            except ValueError:
                continue
            found.append((net, f"route {dst} via {route.get('dev', '?')}"))
    return found


def _ignorable(net: IpNetwork) -> bool:
    return net.prefixlen == 0 or net.is_link_local or net.is_loopback or net.is_multicast


def check_ranges(subnets: Iterable[IpNetwork], host: list[tuple[IpNetwork, str]]) -> None:
    """Refuse subnets in a forbidden or special range, overlapping each other, or overlapping
    anything the host already has."""
    seen: list[IpNetwork] = []
    for subnet in subnets:
        for bad in FORBIDDEN:
            if subnet.version == bad.version and subnet.overlaps(bad):
                raise IpError(f"subnet {subnet} overlaps {bad}, this machine's own network: "
                              "use documentation ranges such as 198.51.100.0/24 or "
                              "2001:db8::/32")
        for special, why in _SPECIAL:
            if subnet.version == special.version and subnet.overlaps(special):
                raise IpError(f"subnet {subnet} overlaps {special} ({why})")
        for other in seen:
            # Both gateways would sit on the one bridge: which guest a packet reaches is moot.
            if other.version == subnet.version and subnet.overlaps(other):
                raise IpError(f"subnet {subnet} overlaps subnet {other} of this sandbox")
        seen.append(subnet)
        for net, what in host:
            if _ignorable(net) or net.version != subnet.version:
                continue
            if subnet.overlaps(net):
                raise IpError(f"subnet {subnet} overlaps the host's {what}")
