"""Namespace guests (root): each guest is a network namespace with a veth into one bridge per
sandbox, real addresses from the network's subnets (IPv4 and IPv6), a metadata service at
169.254.169.254 inside the namespace, an SSH banner on port 22, and its user-data run inside the
namespace with a private hostname, /root, /home and /run — like a freshly booted image."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import threading
from pathlib import Path

from probes.sandbox.guests import netlink
from probes.sandbox.guests.banner import BannerService
from probes.sandbox.guests.base import GuestAddress, GuestError, GuestSpec
from probes.sandbox.guests.console import ConsoleLog
from probes.sandbox.guests.metadata import METADATA_ADDR, MetadataServer, documents, mjf_metadata
from probes.sandbox.guests.nsio import listen_in_netns
from probes.sandbox.guests.userdata import GUEST_PATH, UserDataRun, run_user_data
from probes.sandbox.inventory import NetworkRec, SubnetRec

REACH_PORT = 22
# Runs as root in the guest's own mount and UTS namespaces: copy the user-data where cloud-init
# would keep it, hide the host's home directories, set the guest's hostname, run the script.
_WRAPPER = """set -e
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/cloud-init/scripts
cp "$1" /run/cloud-init/scripts/part-001
chmod 700 /run/cloud-init/scripts/part-001
mount -t tmpfs -o mode=0700 tmpfs /root
mount -t tmpfs -o mode=0755 tmpfs /home
hostname "$2"
cd /root
exec /run/cloud-init/scripts/part-001
"""


def available() -> str | None:
    """None when namespace guests can run here, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    for tool in ("ip", "unshare"):
        if shutil.which(tool) is None:
            return f"'{tool}' not found"
    try:
        netlink.ip("netns", "list")
    except netlink.IpError as exc:
        return str(exc)
    return None


_ALIAS = "fedprobe-sandbox"


def reap_stale() -> list[str]:
    """Remove what a killed sandbox (SIGKILL: no cleanup ran) left: bridges tagged with a pid
    that no longer runs, their guests' veths, and fpsb- namespaces with no process and no
    interface but loopback. Live sandboxes' bridges are never touched."""
    removed: list[str] = []
    try:
        links = netlink.links()
    except netlink.IpError:
        return removed
    for link in links:
        alias = str(link.get("ifalias", ""))
        if not alias.startswith(_ALIAS + " pid="):
            continue
        pid = alias.rsplit("=", 1)[1]
        if pid.isdigit() and os.path.exists(f"/proc/{pid}"):
            continue
        name = str(link["ifname"])
        for port in links:
            if port.get("master") == name:
                with contextlib.suppress(netlink.IpError):
                    netlink.ip("link", "del", str(port["ifname"]))
        with contextlib.suppress(netlink.IpError):
            netlink.ip("link", "del", name)
            removed.append(name)
    with contextlib.suppress(netlink.IpError):
        for ns in netlink.ip("netns", "list").split():
            if not ns.startswith("fpsb-") or netlink.ip("netns", "pids", ns).strip():
                continue
            if all(lk.get("ifname") == "lo" for lk in netlink.links(ns)):
                netlink.ip("netns", "del", ns)
                removed.append(ns)
    return removed


def _mac(server_id: str) -> str:
    raw = bytes.fromhex(server_id.replace("-", "")[:6])
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in raw)


class _Allocator:
    """Host addresses per subnet: gateway, network and broadcast are never handed out."""

    def __init__(self, subnets: list[SubnetRec]) -> None:
        self._lock = threading.Lock()
        self._used: dict[str, set[str]] = {s.id: {s.gateway_ip} for s in subnets}

    def take(self, subnet: SubnetRec) -> str:
        with self._lock:
            used = self._used.setdefault(subnet.id, {subnet.gateway_ip})
            for host in ipaddress.ip_network(subnet.cidr).hosts():
                if str(host) not in used:
                    used.add(str(host))
                    return str(host)
        raise GuestError(f"no free address left in subnet {subnet.cidr}")

    def give_back(self, subnet_id: str, addr: str) -> None:
        with self._lock:
            self._used.get(subnet_id, set()).discard(addr)


class NamespaceGuest:
    """One guest: a namespace, a veth, addresses, listeners, metadata server and script."""

    def __init__(self, spec: GuestSpec, backend: NamespaceBackend) -> None:
        self._spec = spec
        self._backend = backend
        short = spec.server_id.replace("-", "")[:8]
        self.netns = f"fpsb-{short}"
        self._veth = f"fpv{short}"
        self._dir = backend.root / spec.server_id
        self._taken: list[tuple[str, str]] = []
        self._sockets: list[socket.socket] = []
        self._metadata: MetadataServer | None = None
        self._run: UserDataRun | None = None
        self._stopped = False
        self._addresses: tuple[GuestAddress, ...] = ()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise

    # -- Guest protocol ------------------------------------------------------------------------
    @property
    def addresses(self) -> tuple[GuestAddress, ...]:
        """The guest's IPv4 and IPv6 addresses on its network."""
        return self._addresses

    @property
    def reach_port(self) -> int:
        """Port 22, as on a real VM."""
        return REACH_PORT

    @property
    def extra_metadata(self) -> dict[str, str]:
        """The MJF URLs, as Vac/Vcycle put them in the instance metadata."""
        return mjf_metadata()

    def console(self) -> str:
        """Boot lines and the user-data's output."""
        return self.console_log.read()

    def alive(self) -> bool:
        """False once stopped or if the namespace vanished."""
        return not self._stopped and os.path.exists(f"/run/netns/{self.netns}")

    def stop(self) -> None:
        """Kill everything in the namespace, remove veth, namespace, files. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        for sock in self._sockets:
            self._backend.banner.remove(sock)
        if self._metadata is not None:
            self._metadata.stop()
        self._kill()
        with contextlib.suppress(netlink.IpError):
            netlink.ip("link", "del", self._veth)
        with contextlib.suppress(netlink.IpError):
            netlink.ip("netns", "del", self.netns)
        for subnet_id, addr in self._taken:
            self._backend.allocator.give_back(subnet_id, addr)
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- start-up ------------------------------------------------------------------------------
    def _start(self) -> None:
        spec = self._spec
        self._dir.mkdir(parents=True, exist_ok=False)
        self._dir.chmod(0o700)
        self.console_log = ConsoleLog(self._dir / "console.log", self._backend.console_limit)
        say = self.console_log.say
        say(f"fedprobe-sandbox namespace guest {spec.server_id} ({spec.hostname}) booting")
        network = next((n for n in spec.networks if n.subnets), None)
        gateways: dict[int, str] = {}
        prefixes: dict[int, int] = {}
        if network is not None:
            self._addresses = self._allocate(network, gateways, prefixes)
        self._plumb(gateways, prefixes)
        shown = ", ".join(a.addr for a in self._addresses) or "no network"
        say(f"eth0: {shown}")
        for a in self._addresses:
            sock = listen_in_netns(self.netns, a.addr, REACH_PORT)
            self._sockets.append(sock)
            self._backend.banner.add(sock)
        docs = documents(spec, self._addresses, gateways, prefixes)
        self._metadata = MetadataServer(listen_in_netns(self.netns, METADATA_ADDR, 80), docs)
        say(f"metadata service: http://{METADATA_ADDR}/openstack/latest/meta_data.json")
        self._run_user_data()

    def _allocate(self, network: NetworkRec, gateways: dict[int, str],
                  prefixes: dict[int, int]) -> tuple[GuestAddress, ...]:
        found = []
        mac = _mac(self._spec.server_id)
        for version in (4, 6):
            subnet = next((s for s in network.subnets if s.ip_version == version), None)
            if subnet is None:
                continue
            addr = self._backend.allocator.take(subnet)
            self._taken.append((subnet.id, addr))
            gateways[version] = subnet.gateway_ip
            prefixes[version] = ipaddress.ip_network(subnet.cidr).prefixlen
            found.append(GuestAddress(network.name, addr, version, mac))
        return tuple(found)

    def _plumb(self, gateways: dict[int, str], prefixes: dict[int, int]) -> None:
        peer = f"fpg{self._veth[3:]}"
        try:
            netlink.ip("netns", "add", self.netns)
            netlink.batch([f"link add {self._veth} type veth peer name {peer}",
                           f"link set {peer} netns {self.netns}",
                           f"link set {self._veth} master {self._backend.bridge}",
                           f"link set {self._veth} up"])
            inside = ["link set lo up", f"link set {peer} name eth0",
                      f"link set eth0 address {_mac(self._spec.server_id)}", "link set eth0 up",
                      f"addr add {METADATA_ADDR}/32 dev lo"]
            for a in self._addresses:
                extra = " nodad" if a.version == 6 else ""
                inside.append(f"addr add {a.addr}/{prefixes[a.version]} dev eth0{extra}")
                inside.append(f"route add default via {gateways[a.version]}")
            netlink.batch(inside, netns=self.netns)
        except netlink.IpError as exc:
            raise GuestError(f"guest network set-up failed: {exc}") from None

    def _run_user_data(self) -> None:
        spec = self._spec

        def inside(path: Path) -> list[str]:
            return ["ip", "netns", "exec", self.netns, "unshare", "--uts", "--mount",
                    "--propagation", "private", "sh", "-c", _WRAPPER, "guest", str(path),
                    spec.hostname or "guest"]

        env = {"PATH": GUEST_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        self._run = run_user_data(spec, self.console_log, self._dir, inside, env)

    def _kill(self) -> None:
        if self._run is not None:
            self._run.stop()
        # Anything that left the process group (daemonised by the script) still lives in the
        # namespace: `ip netns pids` finds it.
        with contextlib.suppress(netlink.IpError):
            for pid in netlink.ip("netns", "pids", self.netns).split():
                with contextlib.suppress(ProcessLookupError, ValueError):
                    os.kill(int(pid), signal.SIGKILL)


class NamespaceBackend:
    """Starts namespace guests; owns the sandbox's bridge for its whole life."""

    kind = "namespace"

    def __init__(self, root: Path, subnets: list[SubnetRec], banner: BannerService,
                 console_limit: int, bridge_name: str | None = None) -> None:
        self.root = root
        self.banner = banner
        self.console_limit = console_limit
        self.allocator = _Allocator(subnets)
        self.bridge = bridge_name or f"fpsb{secrets.token_hex(3)}"
        self._guests: list[NamespaceGuest] = []
        self._lock = threading.Lock()
        networks = [ipaddress.ip_network(s.cidr) for s in subnets]
        reap_stale()
        try:
            netlink.check_ranges(networks, netlink.host_networks())
            if os.path.exists(f"/sys/class/net/{self.bridge}"):
                raise netlink.IpError(f"interface {self.bridge} exists already")
            commands = [f"link add {self.bridge} type bridge",
                        f'link set {self.bridge} alias "{_ALIAS} pid={os.getpid()}"']
            for s in subnets:
                plen = ipaddress.ip_network(s.cidr).prefixlen
                extra = " nodad" if s.ip_version == 6 else ""
                commands.append(f"addr add {s.gateway_ip}/{plen} dev {self.bridge}{extra}")
            commands.append(f"link set {self.bridge} up")
            netlink.batch(commands)
        except netlink.IpError as exc:
            with contextlib.suppress(netlink.IpError):
                if os.path.exists(f"/sys/class/net/{self.bridge}") and bridge_name is None:
                    netlink.ip("link", "del", self.bridge)
            raise GuestError(str(exc)) from None
        root.mkdir(parents=True, exist_ok=True)

    def start(self, spec: GuestSpec) -> NamespaceGuest:
        """Start one guest (GuestError when its network cannot be set up)."""
        guest = NamespaceGuest(spec, self)
        with self._lock:
            self._guests = [g for g in self._guests if g.alive()]
            self._guests.append(guest)
        return guest

    def close(self) -> None:
        """Stop any guest still running, then remove the bridge."""
        with self._lock:
            guests, self._guests = self._guests, []
        for guest in guests:
            guest.stop()
        with contextlib.suppress(netlink.IpError):
            netlink.ip("link", "del", self.bridge)
