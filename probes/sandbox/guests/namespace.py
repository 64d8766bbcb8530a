"""Namespace guests (root): each guest is a network namespace with a veth into one bridge per
sandbox, real addresses from the network's subnets (IPv4 and IPv6), a metadata service at
169.254.169.254 inside the namespace, an SSH banner on port 22, and its user-data run inside the
namespace with a private hostname, /root, /home, /run and /tmp — like a freshly booted image."""

from __future__ import annotations

import contextlib
import functools
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

from probes import programs
from probes.sandbox.guests import netlink
from probes.sandbox.guests.banner import BannerService
from probes.sandbox.guests.base import GuestAddress, GuestError, GuestSpec, server_mac
from probes.sandbox.guests.bridge import create_bridge, delete_bridge, forget_neighbours
from probes.sandbox.guests.console import ConsoleLog
from probes.sandbox.guests.guestexec import boot_command
from probes.sandbox.guests.ipam import Allocator, Lease
from probes.sandbox.guests.metadata import METADATA_ADDR, MetadataServer, documents, mjf_metadata
from probes.sandbox.guests.nsio import listen_in_netns, pids_in, pin
from probes.sandbox.guests.reap import NETNS_PREFIX, reap_stale, veth_of
from probes.sandbox.guests.userdata import GUEST_PATH, UserDataRun, run_user_data
from probes.sandbox.inventory import SubnetRec

REACH_PORT = 22
_KILL_WAIT = 5.0  # seconds for a guest's processes to end once killed


def available() -> str | None:
    """None when namespace guests can run here, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    missing = programs.first_missing("ip", "unshare", "sh")
    if missing:
        return missing
    try:
        netlink.ip("netns", "list")
    except netlink.IpError as exc:
        return str(exc)
    return None


class NamespaceGuest:
    """One guest: a namespace, a veth, addresses, listeners, metadata server and script."""

    def __init__(self, spec: GuestSpec, backend: NamespaceBackend) -> None:
        self._spec = spec
        self._backend = backend
        short = spec.server_id.replace("-", "")[:8]
        self.netns = f"{NETNS_PREFIX}{short}"
        self._veth = veth_of(self.netns)
        self._dir = backend.root / spec.server_id
        # What this guest made, so a failed start or stop() removes exactly that — never a
        # namespace, veth or directory of another guest whose name happened to collide.
        self._made: set[str] = set()
        self._lease = Lease()
        self._sockets: list[socket.socket] = []
        self._metadata: MetadataServer | None = None
        self._run: UserDataRun | None = None
        self._stopped = False
        self._stop_lock = threading.Lock()
        self._pinned: int | None = None
        try:
            self._start()
        except BaseException as exc:
            self.stop()
            if isinstance(exc, OSError):
                raise GuestError(f"guest start failed: {exc}") from None
            raise

    # -- Guest protocol ------------------------------------------------------------------------
    @property
    def addresses(self) -> tuple[GuestAddress, ...]:
        """The guest's IPv4 and IPv6 addresses on its network."""
        return self._lease.addresses

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

    @property
    def stopped(self) -> bool:
        """Whether stop() ran (everything the guest made is gone)."""
        return self._stopped

    def alive(self) -> bool:
        """False once stopped or if the namespace vanished."""
        return not self._stopped and os.path.exists(f"/run/netns/{self.netns}")

    def stop(self) -> None:
        """Kill everything in the namespace, remove veth, namespace, files. Idempotent."""
        # Held throughout: a second caller (compute thread vs. backend.close()) returns only
        # once everything is gone.
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            self._teardown()

    def _teardown(self) -> None:
        for sock in self._sockets:
            self._backend.banner.remove(sock)
        if self._metadata is not None:
            self._metadata.stop()
        if "netns" in self._made:
            self._kill()
        if "veth" in self._made:
            with contextlib.suppress(netlink.IpError):
                netlink.ip("link", "del", self._veth)
        if "netns" in self._made:
            with contextlib.suppress(netlink.IpError):
                netlink.ip("netns", "del", self.netns)
        if self._pinned is not None:
            os.close(self._pinned)
            self._pinned = None
        # Given back once (stop() runs once); the addresses stay readable, as process guests'.
        self._backend.allocator.release(self._lease)
        if "dir" in self._made:
            shutil.rmtree(self._dir, ignore_errors=True)

    # -- start-up ------------------------------------------------------------------------------
    def _start(self) -> None:
        spec = self._spec
        self._dir.mkdir(parents=True, exist_ok=False)
        self._made.add("dir")
        self._dir.chmod(0o700)
        self.console_log = ConsoleLog(self._dir / "console.log", self._backend.console_limit)
        say = self.console_log.say
        say(f"fedprobe-sandbox namespace guest {spec.server_id} ({spec.hostname}) booting")
        if spec.networks:  # booted with networks "none": no addresses, as on a real cloud
            network = next((n for n in spec.networks if n.subnets), None)
            if network is None:  # Nova: NetworkRequiresSubnet
                names = ", ".join(n.name for n in spec.networks)
                raise GuestError(f"network {names} has no subnet to boot instances on")
            self._lease = self._backend.allocator.lease(network, server_mac(spec.server_id))
        self._plumb()
        shown = ", ".join(a.addr for a in self.addresses) or "no network"
        say(f"eth0: {shown}")
        for a in self.addresses:
            sock = listen_in_netns(self.netns, a.addr, REACH_PORT)
            self._sockets.append(sock)
            self._backend.banner.add(sock)
        docs = documents(spec, self.addresses, self._lease.gateways, self._lease.prefixes)
        sock = listen_in_netns(self.netns, METADATA_ADDR, 80)
        try:
            self._metadata = MetadataServer(sock, docs)
        except BaseException:
            sock.close()
            raise
        say(f"metadata service: http://{METADATA_ADDR}/openstack/latest/meta_data.json")
        self._run_user_data()

    def _plumb(self) -> None:
        peer = f"fpg{self._veth[3:]}"
        try:
            netlink.ip("netns", "add", self.netns)
            self._made.add("netns")
            self._pinned = pin(self.netns)
            # Made alone so a name clash fails here, before anything of another guest could
            # be taken for ours.
            netlink.ip("link", "add", self._veth, "type", "veth", "peer", "name", peer)
            self._made.add("veth")
            netlink.batch([f"link set {peer} netns {self.netns}",
                           f"link set {self._veth} master {self._backend.bridge}",
                           f"link set {self._veth} up"])
            inside = ["link set lo up", f"link set {peer} name eth0",
                      f"link set eth0 address {server_mac(self._spec.server_id)}",
                      "link set eth0 up",
                      f"addr add {METADATA_ADDR}/32 dev lo"]
            for a in self.addresses:
                # nodad: usable at once, and no other node can hold the address on this bridge
                extra = " nodad" if a.version == 6 else ""
                plen, gateway = self._lease.prefixes[a.version], self._lease.gateways[a.version]
                inside.append(f"addr add {a.addr}/{plen} dev eth0{extra}")
                inside.append(f"route add default via {gateway}")
            netlink.batch(inside, netns=self.netns)
        except netlink.IpError as exc:
            raise GuestError(f"guest network set-up failed: {exc}") from None

    def _run_user_data(self) -> None:
        # The whole environment: nothing of the sandbox's (tokens, passwords) reaches the guest.
        env = {"PATH": GUEST_PATH, "HOME": "/root", "LANG": "C.UTF-8"}
        command = functools.partial(boot_command, self.netns, self._spec.hostname)
        self._run = run_user_data(self._spec, self.console_log, self._dir, command, env)

    def _kill(self) -> None:
        if self._run is not None:
            self._run.stop()
        # Anything that left the process group (daemonised by the script) still lives in the
        # namespace; rounds until it is empty, as a dying shell may have forked meanwhile and a
        # loaded machine may take a while to end what was killed (a bounded while: never hang).
        until = time.monotonic() + _KILL_WAIT
        while self._pinned is not None:
            pids = pids_in(self._pinned)
            if not pids or time.monotonic() > until:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.05)


class NamespaceBackend:
    """Starts namespace guests; owns the sandbox's bridge for its whole life."""

    kind = "namespace"

    def __init__(self, root: Path, subnets: list[SubnetRec], banner: BannerService,
                 console_limit: int, bridge_name: str | None = None) -> None:
        self.root = root
        self.banner = banner
        self.console_limit = console_limit
        # a freed address's next guest has a MAC of its own: the host must not keep this one's
        self.allocator = Allocator(subnets, lambda freed: forget_neighbours(self.bridge, freed))
        self.bridge = bridge_name or f"fpsb{secrets.token_hex(3)}"
        self._guests: list[NamespaceGuest] = []
        self._lock = threading.Lock()
        networks = [ipaddress.ip_network(s.cidr) for s in subnets]
        reap_stale()
        try:
            netlink.check_ranges(networks, netlink.host_networks())
            create_bridge(self.bridge, subnets)
        except netlink.IpError as exc:
            raise GuestError(str(exc)) from None
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            delete_bridge(self.bridge)
            raise GuestError(f"cannot create {root}: {exc.strerror}") from None

    def start(self, spec: GuestSpec) -> NamespaceGuest:
        """Start one guest (GuestError when its network cannot be set up)."""
        guest = NamespaceGuest(spec, self)
        with self._lock:
            # Stopped ones are dropped; a crashed one stays until stopped, so close() cleans it.
            self._guests = [g for g in self._guests if not g.stopped]
            self._guests.append(guest)
        return guest

    def close(self) -> None:
        """Stop any guest still running, then remove the bridge."""
        with self._lock:
            guests, self._guests = self._guests, []
        for guest in guests:
            guest.stop()
        delete_bridge(self.bridge)
