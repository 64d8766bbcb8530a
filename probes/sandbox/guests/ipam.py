"""Guest addresses handed out from the sandbox's subnets, as Neutron's IPAM would."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from probes.sandbox.guests.base import GuestAddress, GuestError
from probes.sandbox.inventory import NetworkRec, SubnetRec


@dataclass(frozen=True)
class Lease:
    """The addresses one guest holds, with what its interface needs to use them."""

    addresses: tuple[GuestAddress, ...] = ()
    gateways: dict[int, str] = field(default_factory=dict)  # IP version -> gateway
    prefixes: dict[int, int] = field(default_factory=dict)  # IP version -> prefix length
    taken: tuple[tuple[str, str], ...] = ()  # (subnet id, address), to give back


class Allocator:
    """Host addresses per subnet: gateway, network and broadcast are never handed out."""

    def __init__(self, subnets: list[SubnetRec],
                 freed: Callable[[list[str]], None] | None = None) -> None:
        # Guests start concurrently (one compute thread per server).
        self._lock = threading.Lock()
        self._freed = freed  # told the addresses a lease gave back (the host forgets them)
        self._used: dict[str, set[str]] = {s.id: {s.gateway_ip} for s in subnets}

    def take(self, subnet: SubnetRec) -> str:
        """The lowest free host address of the subnet (GuestError when none is left)."""
        with self._lock:
            used = self._used.setdefault(subnet.id, {subnet.gateway_ip})
            # hosts() skips the network and (IPv4) broadcast addresses; it is lazy, so a /64
            # is no burden.
            for host in ipaddress.ip_network(subnet.cidr).hosts():
                if str(host) not in used:
                    used.add(str(host))
                    return str(host)
        raise GuestError(f"no free address left in subnet {subnet.cidr}")

    def give_back(self, subnet_id: str, addr: str) -> None:
        """Make an address free again (the guest that had it is gone)."""
        with self._lock:
            self._used.get(subnet_id, set()).discard(addr)

    def lease(self, network: NetworkRec, mac: str) -> Lease:
        """One address per IP version the network has a subnet of (all or none are taken)."""
        # One per family, as a Neutron port gets by default: two default routes of one family
        # could not both be used anyway.
        addresses: list[GuestAddress] = []
        gateways: dict[int, str] = {}
        prefixes: dict[int, int] = {}
        taken: list[tuple[str, str]] = []
        try:
            for version in (4, 6):
                subnet = next((s for s in network.subnets if s.ip_version == version), None)
                if subnet is None:
                    continue
                addr = self.take(subnet)
                taken.append((subnet.id, addr))
                gateways[version] = subnet.gateway_ip
                prefixes[version] = ipaddress.ip_network(subnet.cidr).prefixlen
                addresses.append(GuestAddress(network.name, addr, version, mac))
        except GuestError:
            self.release(Lease(taken=tuple(taken)))
            raise
        return Lease(tuple(addresses), gateways, prefixes, tuple(taken))

    def release(self, lease: Lease) -> None:
        """Give back every address of a lease."""
        if self._freed is not None and lease.taken:  # before another guest can take them
            self._freed([addr for _, addr in lease.taken])
        for subnet_id, addr in lease.taken:
            self.give_back(subnet_id, addr)
