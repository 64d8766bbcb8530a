"""The metadata service QEMU guests see at http://169.254.169.254/ — served from a network
namespace the sandbox makes for it (never from the host's own namespace), with one veth into the
sandbox's bridge. It holds 169.254.169.254 (and fe80::a9fe:a9fe), routes the guests' subnets
on-link, and answers each guest with its own documents, chosen by the guest's source address
(as Nova's metadata service tells instances apart)."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import socket
import threading

from probes.sandbox.guests import netlink
from probes.sandbox.guests.metadata import METADATA_ADDR, MetadataServer
from probes.sandbox.guests.nsio import listen_in_netns, pin
from probes.sandbox.guests.reap import NETNS_PREFIX, veth_of
from probes.sandbox.inventory import SubnetRec

METADATA_ADDR6 = "fe80::a9fe:a9fe"


class _SharedServer(MetadataServer):
    """One metadata server for every guest on the bridge."""

    def __init__(self, sock: socket.socket) -> None:
        self.by_client: dict[str, dict[str, bytes]] = {}
        self._lock = threading.Lock()
        super().__init__(sock, {})

    def documents_for(self, client: str) -> dict[str, bytes]:
        """The documents of the guest that has this address (none for a stranger)."""
        client = client.removeprefix("::ffff:").split("%", 1)[0]
        with self._lock:
            return self.by_client.get(client, {})

    def set(self, addresses: list[str], docs: dict[str, bytes] | None) -> None:
        """Serve (or, with None, stop serving) these documents to these addresses."""
        with self._lock:
            for a in addresses:
                if docs is None:
                    self.by_client.pop(a, None)
                else:
                    self.by_client[a] = docs


class MetadataNamespace:
    """The namespace, its veth on the bridge and the server in it."""

    def __init__(self, bridge: str, suffix: str, subnets: list[SubnetRec],
                 ports: dict[str, str]) -> None:
        self.netns = f"{NETNS_PREFIX}md{suffix}"
        self.ports = ports  # subnet id -> this namespace's address in it (IPv4 subnets)
        self._veth = veth_of(self.netns)
        self._made: set[str] = set()
        self._pinned: int | None = None
        self._servers: list[_SharedServer] = []
        try:
            self._plumb(bridge, subnets)
            for addr in ("0.0.0.0", "::"):
                sock = listen_in_netns(self.netns, addr, 80)
                try:
                    self._servers.append(_SharedServer(sock))
                except BaseException:
                    sock.close()
                    raise
        except BaseException:
            self.close()
            raise

    def _plumb(self, bridge: str, subnets: list[SubnetRec]) -> None:
        peer = f"fpm{self._veth[3:]}"
        netlink.ip("netns", "add", self.netns)
        self._made.add("netns")
        self._pinned = pin(self.netns)
        netlink.ip("link", "add", self._veth, "type", "veth", "peer", "name", peer)
        self._made.add("veth")
        netlink.batch([f"link set {peer} netns {self.netns}",
                       f"link set {self._veth} master {bridge}", f"link set {self._veth} up"])
        inside = ["link set lo up", f"link set {peer} name eth0", "link set eth0 up",
                  f"addr add {METADATA_ADDR}/16 dev eth0",
                  f"addr add {METADATA_ADDR6}/64 dev eth0 nodad"]
        # the guests are on this link: answer them directly, never through anything else
        for s in subnets:
            net = ipaddress.ip_network(s.cidr)
            if s.id in self.ports:  # a port on the subnet, as Neutron's metadata port
                inside.append(f"addr add {self.ports[s.id]}/{net.prefixlen} dev eth0")
            else:
                inside.append(f"route add {net} dev eth0")
        netlink.batch(inside, netns=self.netns)

    def serve(self, addresses: list[str], docs: dict[str, bytes]) -> None:
        """Answer requests from these guest addresses with these documents."""
        for srv in self._servers:
            srv.set(addresses, docs)

    def forget(self, addresses: list[str]) -> None:
        """Stop answering these addresses."""
        for srv in self._servers:
            srv.set(addresses, None)

    def close(self) -> None:
        """Stop the servers, remove the veth and the namespace. Idempotent."""
        for srv in self._servers:
            srv.stop()
        self._servers.clear()
        if "veth" in self._made:
            with contextlib.suppress(netlink.IpError):
                netlink.ip("link", "del", self._veth)
        if "netns" in self._made:
            with contextlib.suppress(netlink.IpError):
                netlink.ip("netns", "del", self.netns)
        self._made.clear()
        if self._pinned is not None:
            os.close(self._pinned)
            self._pinned = None
