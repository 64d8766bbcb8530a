"""Nova's state: servers and their lifecycle (BUILD -> ACTIVE | ERROR, delete -> gone).

Each server's life runs in its own thread: wait the boot delay, start the guest (or get stuck /
fail as the faults in force at create time say), then on delete stop the guest and forget the
server after the delete delay. The faults are snapshotted at create so a run is deterministic.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from probes.sandbox.faults import Faults
from probes.sandbox.guests.base import Guest, GuestBackend, GuestError, GuestSpec
from probes.sandbox.ids import new_uuid

log = logging.getLogger(__name__)

ENDED_KEPT = 1000  # deleted servers remembered for os-simple-tenant-usage

# Nova's power states
RUNNING, NOSTATE, SHUTDOWN = 1, 0, 4


@dataclass
class Server:
    """One server, mutable under the store's lock."""

    id: str
    name: str
    project_id: str
    user_id: str
    image_id: str
    flavor_id: str
    network_ids: tuple[str, ...]
    metadata: dict[str, str]
    tags: list[str]
    user_data: bytes | None
    config_drive: bool
    key_name: str | None
    description: str | None
    created: float
    faults: Faults
    updated: float = 0.0
    status: str = "BUILD"
    vm_state: str = "building"
    task_state: str | None = "scheduling"
    power_state: int = NOSTATE
    launched_at: float | None = None
    fault: dict[str, object] | None = None
    guest: Guest | None = None
    delete_requested: float | None = None
    gone: bool = False
    ended: float | None = None    # when it went away (epoch), for usage reports
    wake: threading.Event = field(default_factory=threading.Event)

    def touch(self) -> None:
        """Record a change (``updated``)."""
        self.updated = time.time()


class ServerStore:
    """All servers of the sandbox and the threads that move them through their lifecycle."""

    def __init__(self, backend: GuestBackend, boot_delay: float, delete_delay: float,
                 boot_timeout: float = 90.0) -> None:
        self.backend = backend
        self._boot_delay = boot_delay
        self._boot_timeout = boot_timeout
        self._delete_delay = delete_delay
        self.lock = threading.RLock()
        self._servers: dict[str, Server] = {}
        self._ended: deque[Server] = deque(maxlen=ENDED_KEPT)  # gone ones, for usage
        self._threads: list[threading.Thread] = []
        self._closing = threading.Event()

    # -- queries ---------------------------------------------------------------------------
    def get(self, server_id: str) -> Server | None:
        """A server that is not gone yet."""
        with self.lock:
            server = self._servers.get(server_id)
            return server if server is not None and not server.gone else None

    def ever(self, server_id: str) -> Server | None:
        """A server, gone or not (the last ENDED_KEPT gone ones)."""
        with self.lock:
            found = self._servers.get(server_id)
            return found or next((s for s in self._ended if s.id == server_id), None)

    def all(self) -> list[Server]:
        """Every server not gone yet, oldest first."""
        with self.lock:
            return sorted((s for s in self._servers.values() if not s.gone),
                          key=lambda s: (s.created, s.id))

    def used_between(self, project_id: str, start: float, end: float) -> list[Server]:
        """A project's servers that existed at some point of [start, end), gone ones too
        (the last ENDED_KEPT of them), oldest first."""
        with self.lock:
            every = [*self._servers.values(), *self._ended]
        return sorted((s for s in every if s.project_id == project_id and s.created < end
                       and (s.ended is None or s.ended > start)),
                      key=lambda s: (s.created, s.id))

    def count_for(self, project_id: str) -> int:
        """Servers a project holds (quota)."""
        with self.lock:
            return sum(1 for s in self._servers.values()
                       if s.project_id == project_id and not s.gone)

    # -- lifecycle ---------------------------------------------------------------------------
    def create(self, server: Server, spec: GuestSpec) -> Server:
        """Register a new server in BUILD and start its life thread."""
        server.updated = server.created
        with self.lock:
            self._servers[server.id] = server
        thread = threading.Thread(target=self._life, args=(server, spec), daemon=True,
                                  name=f"server-{server.id[:8]}")
        with self.lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()
        return server

    def delete(self, server: Server) -> None:
        """Accept a delete: the server goes away in the background."""
        with self.lock:
            if server.delete_requested is not None:
                return
            server.delete_requested = time.monotonic()
            server.task_state = "deleting"
            server.touch()
        server.wake.set()

    def close(self) -> None:
        """Stop every guest now (sandbox shutdown) and wait for the life threads."""
        self._closing.set()
        for server in self.all():
            server.wake.set()
        for thread in list(self._threads):
            thread.join(timeout=15)
        with self.lock:
            leftovers = [s for s in self._servers.values() if s.guest is not None]
        for server in leftovers:
            self._stop_guest(server)

    def _wait(self, server: Server, seconds: float | None) -> bool:
        """Sleep until the timeout (True) or a delete/shutdown interrupts (False)."""
        if self._closing.is_set() or server.delete_requested is not None:
            return False
        server.wake.wait(seconds)
        return not (self._closing.is_set() or server.delete_requested is not None)

    def _life(self, server: Server, spec: GuestSpec) -> None:
        faults = server.faults
        if self._wait(server, self._boot_delay + faults.latency.get("boot", 0.0)):
            if faults.stuck_build:
                self._wait(server, None)
            elif faults.guest_never_boots and self.backend.kind != "qemu":
                # a real VM hangs in its own init (QEMU guests); the others stay in BUILD
                if self._wait(server, self._boot_timeout):
                    self._to_error(server, f"guest did not boot within "
                                           f"{self._boot_timeout:.0f}s (injected fault)")
            elif faults.boot_error:
                self._to_error(server, faults.boot_error)
            else:
                self._boot(server, spec)
        while not self._closing.is_set() and server.delete_requested is None:
            server.wake.wait(0.5)
            server.wake.clear()
            self._check_alive(server)
        if self._closing.is_set():
            self._stop_guest(server)
            return
        self._delete(server)

    def _boot(self, server: Server, spec: GuestSpec) -> None:
        with self.lock:
            server.task_state = "spawning"
            server.touch()
        try:
            guest = self.backend.start(spec)
        except GuestError as exc:
            self._to_error(server, str(exc))
            return
        except Exception as exc:
            log.exception("guest start failed for %s", server.id)
            self._to_error(server, f"guest start failed: {exc}")
            return
        # A real VM is BUILD until its OS is up (its boot marker); the others are up at once.
        wait_booted = getattr(guest, "wait_booted", None)
        if wait_booted is not None:
            error = wait_booted(lambda: self._closing.is_set()
                                or server.delete_requested is not None)
            if error is not None:
                with self.lock:
                    server.guest = guest  # deleting the server stops it
                self._to_error(server, error)
                return
        with self.lock:
            server.guest = guest
            server.metadata.update(guest.extra_metadata)
            server.status, server.vm_state, server.task_state = "ACTIVE", "active", None
            server.power_state = RUNNING
            server.launched_at = time.time()
            server.touch()

    def _check_alive(self, server: Server) -> None:
        guest = server.guest
        if guest is not None and server.status == "ACTIVE" and not guest.alive():
            self._to_error(server, str(getattr(guest, "fault", "guest died unexpectedly")))

    def _to_error(self, server: Server, message: str) -> None:
        with self.lock:
            server.status, server.vm_state, server.task_state = "ERROR", "error", None
            server.power_state = SHUTDOWN if server.guest is not None else NOSTATE
            server.fault = {"code": 500, "message": message, "created": time.time()}
            server.touch()

    def _delete(self, server: Server) -> None:
        faults = server.faults
        if faults.delete_never_completes:
            self._closing.wait()
            self._stop_guest(server)
            return
        if faults.delete_fails:
            with self.lock:
                server.delete_requested = None
            self._to_error(server, "Failed to delete the instance (injected fault).")
            server.wake.clear()
            self._life_after_failed_delete(server)
            return
        self._stop_guest(server)
        self._closing.wait(self._delete_delay + faults.latency.get("gone", 0.0))
        with self.lock:
            server.gone = True
            server.ended = time.time()
            del self._servers[server.id]
            self._ended.append(server)

    def _life_after_failed_delete(self, server: Server) -> None:
        # A failed delete leaves the server in ERROR; a later delete request fails again.
        while not self._closing.is_set():
            if server.delete_requested is not None:
                with self.lock:
                    server.delete_requested = None
                    server.task_state = None
                    server.touch()
            server.wake.wait(0.5)
            server.wake.clear()
        self._stop_guest(server)

    def _stop_guest(self, server: Server) -> None:
        with self.lock:
            guest, server.guest = server.guest, None
        if guest is not None:
            try:
                guest.stop()
            except Exception:
                log.exception("stopping guest of %s failed", server.id)


def new_server_id() -> str:
    """A Nova-style server id."""
    return new_uuid()
