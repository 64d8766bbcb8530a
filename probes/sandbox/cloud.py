"""The sandbox cloud's whole state in one object: config, identity, inventory, servers, guests,
faults and the request log. The HTTP layer (api/) and the Python API (server.Sandbox) share it."""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from probes.sandbox.compute import ServerStore
from probes.sandbox.config import SandboxConfig, SandboxConfigError
from probes.sandbox.faults import FaultInjector, Faults
from probes.sandbox.guests.banner import BannerService
from probes.sandbox.guests.base import GuestBackend, GuestError
from probes.sandbox.guests.process import ProcessBackend
from probes.sandbox.identity import IdentityStore
from probes.sandbox.inventory import Inventory
from probes.sandbox.requestlog import RequestLog

log = logging.getLogger(__name__)


def _backend(cfg: SandboxConfig, inventory: Inventory, root: Path,
             banner: BannerService) -> GuestBackend:
    """The guest backend the config asks for; "auto" prefers namespace guests when root."""
    kind = cfg.guests.kind
    limit = cfg.guests.console_limit_bytes
    if kind == "process":
        return ProcessBackend(root, limit, banner)
    if kind == "qemu":
        return _qemu(cfg, inventory, root)
    from probes.sandbox.guests import namespace

    reason = namespace.available()
    if reason is not None:
        if kind == "namespace":
            raise SandboxConfigError(f"guests.kind 'namespace' cannot be used here: {reason}")
        log.info("namespace guests unavailable (%s); using process guests", reason)
        return ProcessBackend(root, limit, banner)
    try:
        return namespace.NamespaceBackend(root, inventory.subnets(), banner, limit,
                                          cfg.guests.bridge)
    except GuestError as exc:
        raise SandboxConfigError(f"namespace guests refused: {exc}") from None


def _qemu(cfg: SandboxConfig, inventory: Inventory, root: Path) -> GuestBackend:
    """Real tiny VMs: QEMU, the cached image (built now if needed), the bridge."""
    from probes.sandbox.qemu import debimage, guest, image

    q = cfg.guests.qemu
    reason = guest.available(q.binary)
    if reason is not None:
        raise SandboxConfigError(f"guests.kind 'qemu' cannot be used here: {reason}")
    cache = Path(q.image_cache) if q.image_cache else None
    try:
        tiny = debimage.ensure(cache) if q.image == "debian" else image.ensure(cache)
    except image.ImageError as exc:
        raise SandboxConfigError(f"guests.kind 'qemu': {q.image} image: {exc}") from None
    low, cpus = (max(q.min_ram_mb, 512), max(q.cpus, 2)) if q.image == "debian" \
        else (q.min_ram_mb, q.cpus)
    settings = guest.QemuSettings(q.binary, low, max(low, q.max_ram_mb), cfg.guests.boot_timeout,
                                  cpus)
    try:
        return guest.QemuBackend(root, inventory.subnets(), cfg.guests.console_limit_bytes,
                                 tiny, settings, cfg.guests.bridge)
    except GuestError as exc:
        raise SandboxConfigError(f"qemu guests refused: {exc}") from None


class Cloud:
    """Everything the sandbox knows."""

    def __init__(self, config: SandboxConfig, state_dir: Path) -> None:
        self.config = config
        self.state_dir = state_dir
        state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(state_dir, 0o700)
        self.identity = IdentityStore(config.identity)
        self.inventory = Inventory(config, self.identity)
        self.faults = FaultInjector(config.faults, config.seed)
        self.identity.token_valid_for = config.faults.token_valid_for
        self.requests = RequestLog()
        self.banner = BannerService()
        self.later: list[threading.Timer] = []  # work a fault put off (create_after_504)
        self.closed = False
        try:
            self.backend = _backend(config, self.inventory, state_dir / "guests", self.banner)
        except BaseException:
            self.banner.close()
            raise
        self.servers = ServerStore(self.backend, config.guests.boot_delay, config.delete_delay,
                                   config.guests.boot_timeout)

    @property
    def guest_kind(self) -> str:
        """Which guests this sandbox runs: "process", "namespace" or "qemu"."""
        return self.backend.kind

    def set_faults(self, faults: Faults) -> None:
        """Put new faults in force (servers created from now on follow them)."""
        self.faults.replace(faults)
        self.identity.token_valid_for = faults.token_valid_for

    def close(self) -> None:
        """Stop every guest and release the backend."""
        self.closed = True
        for timer in self.later:
            timer.cancel()
        self.servers.close()
        self.backend.close()
        self.banner.close()
