"""The one bridge per sandbox that every namespace guest's veth joins; it holds each subnet's
gateway address, so the host routes the sandbox's ranges to its guests and nowhere else."""

from __future__ import annotations

import contextlib
import hashlib
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
    # A MAC of its own, as a router port has: a bridge's MAC otherwise follows its lowest
    # port's and changes as guests come and go, and each change flushes every neighbour entry
    commands = [f'link set {name} alias "{bridge_alias()}"', f"link set {name} address "
                f"{_mac(name)}"]
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


def _mac(name: str) -> str:
    """A locally administered unicast MAC from the bridge's name."""
    digest = hashlib.sha256(name.encode()).digest()
    return ":".join(f"{b:02x}" for b in (0x02, *digest[:5]))


def forget_neighbours(name: str, addresses: list[str]) -> None:
    """Drop the host's neighbour entries (ARP, NDP) for a deleted guest's addresses, as
    Neutron's router learns a new port's MAC: the next guest given an address must not be
    sent the last one's MAC (the host's stale entry took 10-50 s to fail over, lost SYNs all
    along). Quiet if there is none."""
    if addresses:
        with contextlib.suppress(netlink.IpError):
            netlink.batch([f"neigh flush to {a} dev {name}" for a in addresses])


def delete_bridge(name: str) -> None:
    """Remove the bridge (its guests' veths are removed by the guests); quiet if gone."""
    with contextlib.suppress(netlink.IpError):
        netlink.ip("link", "del", name)
