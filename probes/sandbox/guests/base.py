"""What every guest kind offers the compute service, and what it is given to start one."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from probes.sandbox.inventory import NetworkRec


class GuestError(Exception):
    """A guest could not be started; the message becomes the server's fault message."""


@dataclass(frozen=True)
class GuestAddress:
    network: str
    addr: str
    version: int
    mac: str


@dataclass(frozen=True)
class GuestSpec:
    """Everything a backend needs to start the guest of one server."""

    server_id: str
    name: str
    hostname: str
    project_id: str
    created: float
    user_data: bytes | None
    run_user_data: bool
    metadata: dict[str, str]
    networks: tuple[NetworkRec, ...]
    vcpus: int
    ram_mb: int
    mjf_machine: dict[str, str] = field(default_factory=dict)
    mjf_job: dict[str, str] = field(default_factory=dict)
    public_keys: dict[str, str] = field(default_factory=dict)
    hang: bool = False  # fault: the guest's OS never comes up (QEMU: init hangs before network)


class Guest(Protocol):
    """A running guest."""

    @property
    def addresses(self) -> tuple[GuestAddress, ...]:
        """Addresses to show in the server's ``addresses``."""

    @property
    def reach_port(self) -> int:
        """TCP port answering with an SSH banner on every address while the guest runs."""

    @property
    def extra_metadata(self) -> dict[str, str]:
        """Metadata keys the cloud adds to the server (e.g. MJF URLs), empty if none."""

    def console(self) -> str:
        """The console log so far."""

    def alive(self) -> bool:
        """Whether the guest still runs (a crashed guest sends its server to ERROR)."""

    def stop(self) -> None:
        """Kill the guest and remove everything it made. Idempotent."""


class GuestBackend(Protocol):
    """Starts guests of one kind."""

    kind: str

    def start(self, spec: GuestSpec) -> Guest:
        """Start a guest (raise GuestError when impossible)."""

    def close(self) -> None:
        """Release what the backend holds (bridges, listeners); guests are stopped first."""


SSH_BANNER = b"SSH-2.0-OpenSSH_9.2p1 fedprobe-sandbox\r\n"


def server_mac(server_id: str) -> str:
    """The MAC of a server's port: OpenStack's fa:16:3e prefix and the id's first bytes."""
    raw = bytes.fromhex(server_id.replace("-", "")[:6])
    return "fa:16:3e:" + ":".join(f"{b:02x}" for b in raw)
