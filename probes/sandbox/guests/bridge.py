"""The one bridge per sandbox that every namespace guest's veth joins; it holds each subnet's
gateway address, so the host routes the sandbox's ranges to its guests and nowhere else."""

from __future__ import annotations

import contextlib
import ipaddress
import os

from probes.sandbox.guests import netlink
from probes.sandbox.guests.reap import bridge_alias
from probes.sandbox.inventory import SubnetRec

_IFNAMSIZ = 15


def create_bridge(name: str, subnets: list[SubnetRec]) -> None:
    """Make the bridge with every gateway on it and bring it up, or raise IpError (and leave
    nothing made). An existing interface of that name is refused, never reused or deleted."""
    if len(name) > _IFNAMSIZ:
        raise netlink.IpError(f"bridge name {name!r} is longer than {_IFNAMSIZ} characters")
    if os.path.exists(f"/sys/class/net/{name}"):
        raise netlink.IpError(f"interface {name} exists already")
    netlink.ip("link", "add", name, "type", "bridge")
    commands = [f'link set {name} alias "{bridge_alias()}"']
    for s in subnets:
        plen = ipaddress.ip_network(s.cidr).prefixlen
        # nodad: the gateway must answer at once, and only this sandbox uses the range
        extra = " nodad" if s.ip_version == 6 else ""
        commands.append(f"addr add {s.gateway_ip}/{plen} dev {name}{extra}")
    # Up for the backend's whole life: while it is, these ranges are routed here and never
    # out through the host's default route.
    commands.append(f"link set {name} up")
    try:
        netlink.batch(commands)
    except netlink.IpError:
        delete_bridge(name)
        raise


def delete_bridge(name: str) -> None:
    """Remove the bridge (its guests' veths are removed by the guests); quiet if gone."""
    with contextlib.suppress(netlink.IpError):
        netlink.ip("link", "del", name)
