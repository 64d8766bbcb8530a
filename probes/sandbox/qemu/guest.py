"""QEMU guests (root): each server is a real tiny VM — qemu-system-x86_64 under TCG with the
cached kernel + initramfs, its config drive (config-2) built for it, its serial console in a
file (what os-getConsoleOutput returns), and a tap on the sandbox's bridge with the addresses
Neutron gave it (IPv4 and IPv6). BUILD lasts until the guest prints its boot marker on the
console; a QEMU that exits, or a guest that does not boot in time, is an ERROR with the
console's tail as the fault. Stopping kills QEMU and removes the tap and every file."""

from __future__ import annotations

import contextlib
import ctypes
import ipaddress
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from probes import programs
from probes.sandbox.guests import netlink
from probes.sandbox.guests.base import GuestAddress, GuestError, GuestSpec, server_mac
from probes.sandbox.guests.bridge import create_bridge, delete_bridge, forget_neighbours
from probes.sandbox.guests.ipam import Allocator, Lease
from probes.sandbox.guests.metadata import documents, mjf_metadata
from probes.sandbox.guests.reap import reap_stale
from probes.sandbox.inventory import SubnetRec
from probes.sandbox.qemu import configdrive
from probes.sandbox.qemu.guestinit import BOOT_MARKER
from probes.sandbox.qemu.image import TinyImage
from probes.sandbox.qemu.metans import MetadataNamespace

REACH_PORT = 22
TAP_PREFIX = "fpt"
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class QemuSettings:
    binary: str = "qemu-system-x86_64"
    min_ram_mb: int = 128
    max_ram_mb: int = 256
    boot_timeout: float = 60.0
    cpus: int = 1


def available(binary: str = "qemu-system-x86_64") -> str | None:
    """None when QEMU guests can run here, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    missing = programs.first_missing(binary, "ip", "apt-get", "apt-cache", "dpkg-deb", "modinfo")
    if missing:
        return missing
    if not os.path.exists("/dev/net/tun"):
        return "/dev/net/tun missing"
    return None


def link_local(mac: str) -> str:
    """The EUI-64 IPv6 link-local address a Linux guest makes from its MAC."""
    b = bytearray(int(x, 16) for x in mac.split(":"))
    b[0] ^= 0x02
    eui = bytes(b[:3]) + b"\xff\xfe" + bytes(b[3:])
    return str(ipaddress.IPv6Address(b"\xfe\x80" + b"\0" * 6 + eui))


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    os.setsid()


class QemuGuest:
    """One VM: its directory (config drive, console, QEMU log), tap and QEMU process."""

    def __init__(self, spec: GuestSpec, backend: QemuBackend) -> None:
        self._spec = spec
        self._backend = backend
        short = spec.server_id.replace("-", "")[:8]
        self._tap = f"{TAP_PREFIX}{short}"
        self._dir = backend.root / spec.server_id
        self._made: set[str] = set()
        self._lease = Lease()
        self._served: list[str] = []
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = time.monotonic()
        self._stopped = False
        self._stop_lock = threading.Lock()
        self.console_file = self._dir / "console.log"
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
        """The addresses configured in the guest from its network_data.json."""
        return self._lease.addresses

    @property
    def reach_port(self) -> int:
        """Port 22: the guest's init answers with an SSH banner."""
        return REACH_PORT

    @property
    def extra_metadata(self) -> dict[str, str]:
        """The MJF URLs (served by the metadata namespace)."""
        return mjf_metadata()

    @property
    def stopped(self) -> bool:
        """Whether stop() ran."""
        return self._stopped

    def console(self) -> str:
        """The serial console so far (newest kept within the limit)."""
        try:
            data = self.console_file.read_bytes()
        except FileNotFoundError:
            return ""
        limit = self._backend.console_limit
        return data[-limit:].decode("utf-8", errors="replace")

    def alive(self) -> bool:
        """QEMU still runs."""
        return not self._stopped and self._proc is not None and self._proc.poll() is None

    @property
    def fault(self) -> str:
        """Why the guest is not running, for the server's fault message."""
        code = self._proc.poll() if self._proc is not None else None
        return f"QEMU exited ({_exit(code)}); console: {self._tail()}"

    def wait_booted(self, give_up: Callable[[], bool]) -> str | None:
        """Wait for the boot marker: None once booted (or when `give_up` says stop waiting),
        else why it failed (QEMU died, boot timed out) with the console's tail."""
        limit = self._backend.settings.boot_timeout
        while True:
            if BOOT_MARKER in self.console():
                return None
            if not self.alive():
                return self.fault
            if give_up():
                return None
            if time.monotonic() - self._started > limit:
                return f"guest did not boot within {limit:.0f}s; console: {self._tail()}"
            time.sleep(0.1)

    def stop(self) -> None:
        """Kill QEMU; remove the tap, the metadata entries and every file. Idempotent."""
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            if self._proc is not None and self._proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self._proc.pid, signal.SIGKILL)
                self._proc.wait()
            if self._served:
                self._backend.metadata.forget(self._served)
            if "tap" in self._made:
                with contextlib.suppress(netlink.IpError):
                    netlink.ip("link", "del", self._tap)
            self._backend.allocator.release(self._lease)
            if "dir" in self._made:
                shutil.rmtree(self._dir, ignore_errors=True)

    # -- start-up ------------------------------------------------------------------------------
    def _tail(self, lines: int = 5) -> str:
        text = [ln for ln in self.console().splitlines() if ln.strip()]
        return " | ".join(text[-lines:])[-600:] or "(empty)"

    def _start(self) -> None:
        spec = self._spec
        self._dir.mkdir(parents=True, exist_ok=False)
        self._made.add("dir")
        self._dir.chmod(0o700)
        mac = server_mac(spec.server_id)
        via = None
        if spec.networks:
            network = next((n for n in spec.networks if n.subnets), None)
            if network is None:
                names = ", ".join(n.name for n in spec.networks)
                raise GuestError(f"network {names} has no subnet to boot instances on")
            self._lease = self._backend.allocator.lease(network, mac)
            v4 = next((s for s in network.subnets if s.ip_version == 4), None)
            via = self._backend.metadata.ports.get(v4.id) if v4 is not None else None
        docs = documents(spec, self.addresses, self._lease.gateways, self._lease.prefixes, via)
        drive = {k.removeprefix("/"): v for k, v in docs.items()
                 if k.startswith("/openstack/latest/") and not k.endswith("/")}
        if not spec.run_user_data and self._backend.image.disk is not None:
            # cloud-init runs what the drive holds; the tiny init obeys fedprobe.no_userdata
            drive.pop("openstack/latest/user_data", None)
        configdrive.write(self._dir / "config.iso", drive)
        self._served = [a.addr for a in self.addresses] + [link_local(mac)]
        self._backend.metadata.serve(self._served, docs)
        if spec.networks:
            try:
                netlink.ip("tuntap", "add", "dev", self._tap, "mode", "tap")
                self._made.add("tap")
                netlink.batch([f"link set {self._tap} master {self._backend.bridge}",
                               f"link set {self._tap} up"])
            except netlink.IpError as exc:
                raise GuestError(f"guest network set-up failed: {exc}") from None
        self._launch(mac)

    def _launch(self, mac: str) -> None:
        s, spec, image = self._backend.settings, self._spec, self._backend.image
        ram = max(s.min_ram_mb, min(s.max_ram_mb, spec.ram_mb))
        cmdline = ["console=ttyS0", "quiet", "panic=-1", *image.cmdline]
        if spec.hang:
            cmdline.append("fedprobe.hang")
        if not spec.run_user_data:
            cmdline.append("fedprobe.no_userdata")
        self.console_file.touch(mode=0o600)
        cmd = [s.binary, "-accel", "tcg", "-cpu", "max", "-m", str(ram), "-smp", str(s.cpus),
               "-nodefaults",
               "-no-user-config", "-display", "none", "-no-reboot",
               "-name", f"fedprobe-{spec.server_id[:8]}",
               "-kernel", str(image.kernel), "-initrd", str(image.initrd),
               "-append", " ".join(cmdline),
               "-chardev", f"file,id=ser0,path={self.console_file}", "-serial", "chardev:ser0"]
        if image.disk is not None:  # the root disk first (vda); the guest's writes are dropped
            cmd += ["-drive", f"file={image.disk},if=virtio,format=raw,snapshot=on"]
        cmd += ["-drive", f"file={self._dir / 'config.iso'},if=virtio,format=raw,readonly=on",
               "-device", "virtio-rng-pci"]
        if "tap" in self._made:
            cmd += ["-netdev", f"tap,id=net0,ifname={self._tap},script=no,downscript=no",
                    "-device", f"virtio-net-pci,netdev=net0,mac={mac}"]
        with (self._dir / "qemu.log").open("wb") as out:
            # The environment is QEMU's own: nothing of the sandbox's reaches it.
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out,
                                          stderr=subprocess.STDOUT, cwd=self._dir,
                                          env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
                                          preexec_fn=_die_with_parent)
        self._started = time.monotonic()


def _exit(code: int | None) -> str:
    if code is None:
        return "still running"
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"status {code}"


class QemuBackend:
    """Starts QEMU guests; owns the sandbox's bridge and its metadata namespace."""

    kind = "qemu"

    def __init__(self, root: Path, subnets: list[SubnetRec], console_limit: int,
                 image: TinyImage, settings: QemuSettings,
                 bridge_name: str | None = None) -> None:
        self.root = root
        self.console_limit = console_limit
        self.image = image
        self.settings = settings
        # a freed address's next guest has a MAC of its own: the host must not keep this one's
        self.allocator = Allocator(subnets, lambda freed: forget_neighbours(self.bridge, freed))
        suffix = secrets.token_hex(3)
        self.bridge = bridge_name or f"fpsb{suffix}"
        self._guests: list[QemuGuest] = []
        self._lock = threading.Lock()
        networks = [ipaddress.ip_network(s.cidr) for s in subnets]
        reap_stale()
        try:
            netlink.check_ranges(networks, netlink.host_networks())
            create_bridge(self.bridge, subnets)
        except netlink.IpError as exc:
            raise GuestError(str(exc)) from None
        # the metadata port: one address of each IPv4 subnet, never a guest's
        ports = {s.id: self.allocator.take(s) for s in subnets if s.ip_version == 4}
        try:
            self.metadata = MetadataNamespace(self.bridge, suffix, subnets, ports)
        except (netlink.IpError, OSError) as exc:
            delete_bridge(self.bridge)
            raise GuestError(f"metadata namespace: {exc}") from None
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self.metadata.close()
            delete_bridge(self.bridge)
            raise GuestError(f"cannot create {root}: {exc.strerror}") from None

    def start(self, spec: GuestSpec) -> QemuGuest:
        """Start one VM (GuestError when it cannot be set up)."""
        guest = QemuGuest(spec, self)
        with self._lock:
            self._guests = [g for g in self._guests if not g.stopped]
            self._guests.append(guest)
        return guest

    def close(self) -> None:
        """Stop every VM, then the metadata namespace and the bridge."""
        with self._lock:
            guests, self._guests = self._guests, []
        for guest in guests:
            guest.stop()
        self.metadata.close()
        delete_bridge(self.bridge)

