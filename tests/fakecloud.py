"""An in-memory cloud and its driver, for unit tests of the runner: servers live in a dict, a
server's guest "runs" the user-data by saying its report in the guest script's own format
(`FPR <nonce> key=value` lines, probes/guest/script.py), and faults are set per test — including
the ones later work needs: a create whose answer is lost while the server appears, transient
errors (503s), a list that hangs, a slow delete, a refused login. Every wait is bounded by the
deadline given with the call, as a real driver's requests are; the capabilities it declares
are set per test (OpenStack's by default)."""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from probes.config.site import Site
from probes.config.site import parse as parse_site
from probes.deadline import Deadline, DeadlineExceeded
from probes.drivers.base import (
    Choice,
    Discovery,
    DriverError,
    Forbidden,
    Identity,
    LoginRefused,
    NotFound,
    OwnServer,
    ServerSpec,
    ServerState,
    ServerStatus,
)
from probes.runner.inbox import Channel

HOST = "probe-test.example.org"   # the monitoring host of the runs below
MACHINE = "0123456789abcdef"      # and their machine id (custody's default)
NOW_MJF = {"total_cpu": "2", "hs06": "20.5", "jobslots": "1", "phys_cores": "2",
           "log_cores": "2"}
JOB_MJF = {"allocated_cpu": "1", "job_id": "fake-1", "wall_limit_secs": "86400",
           "cpu_limit_secs": "86400"}


@contextlib.contextmanager
def sshd_like(hosts: tuple[str, ...] = ("127.0.0.1", "::1")) -> Iterator[int]:
    """One port on these loopback addresses that greets like sshd (the probe's reach phase
    waits a moment for a banner); closed on leaving."""
    servers: list[socket.socket] = []
    port = 0
    for host in hosts:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        servers.append(socket.create_server((host, port), family=family))
        port = servers[0].getsockname()[1]

    def greet(srv: socket.socket) -> None:
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                conn.sendall(b"SSH-2.0-fake\r\n")

    for srv in servers:
        threading.Thread(target=greet, args=(srv,), daemon=True).start()
    try:
        yield port
    finally:
        for srv in servers:
            srv.close()


OPENSTACK_LIKE = frozenset({"console", "metadata", "ipv6", "tags", "report_channel"})


@dataclass
class Guest:
    """What the probe VM's user-data says on the console once it ran."""

    metadata_source: str = "config-2"
    mjf_source: str = "env"
    machine: dict[str, str] = field(default_factory=lambda: dict(NOW_MJF))
    job: dict[str, str] = field(default_factory=dict)
    runs_user_data: bool = True
    complete: bool = True
    extra: list[str] = field(default_factory=list)   # more key=value lines (hygiene, ...)

    def console(self, nonce: str) -> str:
        if not self.runs_user_data:
            return "cloud-init: no user-data\n"
        machine = self.machine
        job = {"jobstart_secs": str(int(time.time()) - 5), **JOB_MJF, **self.job}
        lines = ["begin v=1", "ran=1", f"metadata={self.metadata_source}",
                 f"mjf.source={self.mjf_source}",
                 *(f"mjf.machine.{k}={v}" for k, v in machine.items()),
                 *(f"mjf.job.{k}={v}" for k, v in job.items()), *self.extra]
        body = [f"FPR {nonce} {line}" for line in lines]
        if self.complete:
            body.append(f"FPR {nonce} end lines={len(lines) + 1}")
        return "[    0.1] booting\n" + "\n".join(body) + "\n"


@dataclass
class FakeServer:
    id: str
    name: str
    spec: ServerSpec
    created: float
    state: ServerState = ServerState.BUILDING
    polls: int = 0
    fault: str = ""
    deleting_polls: int = 0


@dataclass
class Faults:
    """What the fake cloud gets wrong (defaults: a healthy cloud)."""

    login_error: str = ""               # connect() refused with this reason
    missing_image: bool = False
    boot_polls: int = 1                 # status polls until ACTIVE
    stuck_build: bool = False
    boot_error: str = ""
    create_error: str = ""              # create refused
    create_answer_lost: bool = False    # the server is made, the answer never arrives
    appears_after: float = 0.0          # ... and shows in lists only this many seconds later
    console_forbidden: bool = False
    cannot_post: bool = False           # the guest's posts do not reach the report URL
    transient: dict[str, int] = field(default_factory=dict)  # call -> how many 503s first
    hang: set[str] = field(default_factory=set)              # calls that wait out the deadline
    slow: dict[str, float] = field(default_factory=dict)     # call -> seconds it takes
    delete_error: str = ""
    delete_never_completes: bool = False
    error_after_delete: str = ""
    gone_polls: int = 1                 # status polls after delete until 404
    raise_in: dict[str, BaseException] = field(default_factory=dict)  # call -> unexpected error
    on_call: dict[str, Callable[[], None]] = field(default_factory=dict)  # call -> side effect


class FakeCloud:
    """Servers, addresses and the guest behaviour of one fake site."""

    def __init__(self, addresses: tuple[tuple[int, str], ...] = (),
                 metadata: dict[str, str] | None = None,
                 capabilities: frozenset[str] = OPENSTACK_LIKE) -> None:
        self.capabilities = capabilities
        self.channel: Channel | None = None   # the runs' report listener (console-less)
        self.servers: dict[str, FakeServer] = {}
        self.faults = Faults()
        self.guest = Guest()
        self.addresses = addresses
        self.metadata = metadata or {}
        self.calls: list[str] = []
        self.guardians: list[Any] = []
        self.state_dir: Any = None  # the runs' state directory (custody's default)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add_server(self, metadata: dict[str, str], age: float, name: str = "old") -> str:
        """A server made earlier (by a killed run, another host, a user)."""
        sid = f"srv-{next(self._ids)}"
        spec = ServerSpec("img-1", "fl-1", None, "", dict(metadata))
        self.servers[sid] = FakeServer(sid, name, spec, time.time() - age, ServerState.ACTIVE)
        return sid

    def post_report(self, server_id: str, url: str) -> None:
        """The guest posting its report home once it is up, as the user-data does (real HTTP
        to the run's listener on loopback)."""
        import requests

        end = time.monotonic() + 30
        while time.monotonic() < end:
            server = self.servers.get(server_id)
            if server is None or server.state in (ServerState.GONE, ServerState.DELETING,
                                                  ServerState.ERROR):
                return
            if server.state == ServerState.ACTIVE:
                break
            time.sleep(0.01)
        else:
            return
        nonce = url.rsplit("/", 1)[-1]
        if self.guest.runs_user_data:
            requests.post(url, data=self.guest.console(nonce).encode(), timeout=5)

    def live(self) -> list[str]:
        """Servers that exist (not deleted)."""
        return [s.id for s in self.servers.values() if s.state != ServerState.GONE]

    def driver(self, site: Site) -> FakeDriver:
        """The runner's DriverFactory."""
        return FakeDriver(self)


class FakeDriver:
    """drivers.base.CloudDriver over a FakeCloud."""

    name = "fake"

    def __init__(self, cloud: FakeCloud) -> None:
        self.cloud = cloud
        self.capabilities = cloud.capabilities

    def _call(self, what: str, deadline: Deadline) -> None:
        cloud, faults = self.cloud, self.cloud.faults
        cloud.calls.append(what)
        if what in faults.on_call:
            faults.on_call[what]()
        if what in faults.raise_in:
            raise faults.raise_in[what]
        if what in faults.hang:
            deadline.sleep(3600)  # raises DeadlineExceeded when time is up
        if what in faults.slow:
            deadline.sleep(faults.slow[what])
        if faults.transient.get(what, 0) > 0:
            faults.transient[what] -= 1
            raise DriverError(f"{what}: HTTP 503: Service Unavailable", transient=True)
        if deadline.expired():
            raise DeadlineExceeded(deadline.why())

    def connect(self, deadline: Deadline) -> Identity:
        self._call("connect", deadline)
        if self.cloud.faults.login_error:
            raise LoginRefused(self.cloud.faults.login_error)
        return Identity("password", "project", "p-fake", "u-fake", "2099-01-01T00:00:00Z",
                        "https://k.example/v3#p-fake")

    def discover(self, deadline: Deadline) -> Discovery:
        self._call("discover", deadline)
        if self.cloud.faults.missing_image:
            raise NotFound("image cirros not found", ["ubuntu-22.04"])
        return Discovery(Choice("img-1", "cirros-0.6.2"), Choice("fl-1", "m1.tiny", "1 vCPU"),
                         Choice("net-1", "demo-net"))

    def create(self, spec: ServerSpec, deadline: Deadline) -> str:
        self._call("create", deadline)
        faults = self.cloud.faults
        if faults.create_error:
            raise DriverError(f"create: {faults.create_error}")
        sid = f"srv-{next(self.cloud._ids)}"
        with self.cloud._lock:
            self.cloud.servers[sid] = FakeServer(
                sid, f"fedprobe-{spec.tags['fedprobe.host'][:32]}-{spec.tags['fedprobe.run']}",
                spec, time.time())
        post = re.search(r"^P='(http[^']+)'$", spec.user_data, re.M)
        if post and "report_channel" in self.capabilities and not faults.cannot_post:
            threading.Thread(target=self.cloud.post_report, args=(sid, post.group(1)),
                             daemon=True).start()
        if faults.create_answer_lost:
            raise DriverError("create: ReadTimeout (the answer was lost)", transient=True,
                              maybe_done=True)
        return sid

    def status(self, server_id: str, deadline: Deadline) -> ServerStatus:
        self._call("status", deadline)
        faults = self.cloud.faults
        server = self.cloud.servers.get(server_id)
        if server is None or server.state == ServerState.GONE:
            return ServerStatus(ServerState.GONE, "404")
        server.polls += 1
        if server.state == ServerState.BUILDING:
            if faults.boot_error:
                server.state, server.fault = ServerState.ERROR, faults.boot_error
            elif not faults.stuck_build and server.polls >= faults.boot_polls:
                server.state = ServerState.ACTIVE
        if server.state == ServerState.DELETING:
            server.deleting_polls += 1
            if faults.error_after_delete:
                server.state, server.fault = ServerState.ERROR, faults.error_after_delete
            elif (not faults.delete_never_completes
                  and server.deleting_polls >= faults.gone_polls):
                server.state = ServerState.GONE
                return ServerStatus(ServerState.GONE, "404")
        addresses = self.cloud.addresses if server.state == ServerState.ACTIVE else ()
        return ServerStatus(server.state, server.state.value.upper(), server.fault, addresses,
                            dict(self.cloud.metadata))

    def report(self, server_id: str, deadline: Deadline) -> str | None:
        self._call("console", deadline)
        if "console" not in self.capabilities:
            return None
        if self.cloud.faults.console_forbidden:
            raise Forbidden("console output: HTTP 403: policy does not allow it")
        server = self.cloud.servers[server_id]
        match = re.search(r"^N=([0-9a-f]+)$", server.spec.user_data, re.M)
        assert match, "the user-data carries this run's nonce"
        return self.cloud.guest.console(match.group(1))

    def delete(self, server_id: str, deadline: Deadline) -> None:
        self._call("delete", deadline)
        faults = self.cloud.faults
        if faults.delete_error:
            raise DriverError(f"delete: {faults.delete_error}")
        server = self.cloud.servers.get(server_id)
        if server is not None and server.state != ServerState.GONE:
            server.state = ServerState.DELETING

    def list_own(self, tags: dict[str, str], deadline: Deadline) -> list[OwnServer]:
        self._call("list", deadline)
        shows = time.time() - self.cloud.faults.appears_after
        return [OwnServer(s.id, s.name, s.created, dict(s.spec.tags))
                for s in self.cloud.servers.values()
                if s.state != ServerState.GONE and s.created <= shows
                and all(s.spec.tags.get(k) == v for k, v in tags.items())]


def site(**overrides: Any) -> Site:
    """A site for the fake cloud (policy overrides welcome)."""
    data: dict[str, Any] = {"name": "fake", "image": {"name": "cirros"},
                            "auth": {"type": "password", "auth_url": "https://k.example/v3",
                                     "username": "u", "password": "pw", "project_name": "p"}}
    data.update(overrides)
    return parse_site(data)


def _connected(driver: FakeDriver, deadline: Deadline) -> FakeDriver:
    driver.connect(deadline)
    return driver


class ThreadGuardian:
    """The guardian's own code (probes.runner.guardian.watch and clean_up) in a thread, acting
    on the fake cloud — what the guardian process does, minus the process. ``die()`` closes
    the run's end of the pipe without "done", as a SIGKILL would."""

    def __init__(self, cloud: FakeCloud, hello: dict[str, Any]) -> None:
        import os

        from probes.runner import guardian

        read, write = os.pipe()
        self._pipe: Any = os.fdopen(write, "w")
        self.acted = threading.Event()
        self.done = threading.Event()

        def act(w: guardian.Watch, until: float) -> None:
            guardian.clean_up(w, until, lambda s, d: _connected(FakeDriver(cloud), d))
            self.acted.set()

        def run() -> None:
            with os.fdopen(read) as stream:
                guardian.watch(stream, act)
            self.done.set()

        threading.Thread(target=run, daemon=True).start()
        self.tell(hello=hello)

    def tell(self, **msg: Any) -> None:
        import json

        if self._pipe is not None:
            self._pipe.write(json.dumps(msg) + "\n")
            self._pipe.flush()

    def finish(self, lost: bool = False) -> None:
        self.tell(**({"lost": True} if lost else {"done": True}))
        self.die()

    def die(self) -> None:
        if self._pipe is not None:
            self._pipe.close()
            self._pipe = None


def custody(cloud: FakeCloud, state_dir: Any = None, host: str = HOST,
            machine: str = MACHINE, role: str = "plugin", guardians: bool = True) -> Any:
    """A runner's custody over the fake cloud: a real ledger in state_dir, thread guardians
    (kept in cloud.guardians, newest last)."""
    from pathlib import Path

    from probes.runner import statedir
    from probes.runner.custody import Custody
    from probes.runner.identity import Identity

    def spawn(hello: dict[str, Any], where: Path, lock_fd: int) -> Any:
        if not guardians:  # as when the guardian process could not start: the ledger alone
            from probes.runner.guardian import Guardian

            return Guardian(None, None)
        g = ThreadGuardian(cloud, hello)
        cloud.guardians.append(g)
        return g

    where = Path(state_dir if state_dir is not None else cloud.state_dir)
    return Custody(Identity(host, machine, role), statedir.prepare(where), spawn)
