"""Process guests: no privileges needed. The user-data runs as a child process, the guest gets a
loopback IPv4 address of its own (127.77.x.y) and IPv6 ::1, both answering on a per-guest port,
and its machine/job features as $MACHINEFEATURES/$JOBFEATURES directories."""

from __future__ import annotations

import itertools
import os
import shutil
import socket
from pathlib import Path

from probes.net import listen
from probes.sandbox.guests.banner import BannerService
from probes.sandbox.guests.base import GuestAddress, GuestError, GuestSpec
from probes.sandbox.guests.console import ConsoleLog
from probes.sandbox.guests.mjf import write_dir
from probes.sandbox.guests.userdata import GUEST_PATH, UserDataRun, run_user_data

REACH_PORT_KEY = "sandbox:reach_port"


def _isolated(script: Path) -> list[str]:
    """Run the script in a network namespace of its own (only a down loopback): a process
    guest lives on the host, and its script must never reach the host's network — e.g. this
    machine's own 169.254.169.254. Unprivileged: through a user namespace."""
    as_root = os.geteuid() == 0
    return ["unshare", "--net", *([] if as_root else ["--map-root-user"]), str(script)]


def _mac(index: int) -> str:
    return f"fa:16:3e:{(index >> 16) & 255:02x}:{(index >> 8) & 255:02x}:{index & 255:02x}"


class ProcessGuest:
    """One running process guest."""

    def __init__(self, spec: GuestSpec, root: Path, index: int, banner: BannerService,
                 console_limit: int) -> None:
        self._spec = spec
        self._dir = root / spec.server_id
        self._banner = banner
        self._sockets: list[socket.socket] = []
        self._run: UserDataRun | None = None
        self._stopped = False
        self._dir.mkdir(parents=True, exist_ok=False)
        self._dir.chmod(0o700)
        self.console_log = ConsoleLog(self._dir / "console.log", console_limit)
        self._v4 = f"127.77.{(index >> 8) & 255}.{index & 255}"
        self._port = self._open_listeners()
        self._addresses: tuple[GuestAddress, ...] = ()
        if spec.networks:  # booted with networks "none": no addresses, as on a real cloud
            net = spec.networks[0].name
            self._addresses = (GuestAddress(net, self._v4, 4, _mac(index)),) + (
                (GuestAddress(net, "::1", 6, _mac(index)),) if len(self._sockets) > 1 else ())
        self._boot()

    # -- Guest protocol ------------------------------------------------------------------------
    @property
    def addresses(self) -> tuple[GuestAddress, ...]:
        """IPv4 127.77.x.y and IPv6 ::1."""
        return self._addresses

    @property
    def reach_port(self) -> int:
        """The per-guest port both addresses answer on."""
        return self._port

    @property
    def extra_metadata(self) -> dict[str, str]:
        """The per-guest port, so a probe can find the listener behind the shared ::1."""
        return {REACH_PORT_KEY: str(self._port)}

    def console(self) -> str:
        """Boot lines and the user-data's output."""
        return self.console_log.read()

    def alive(self) -> bool:
        """A process guest stays up while not stopped (the script may finish, as on a VM)."""
        return not self._stopped

    def stop(self) -> None:
        """Kill the script's process group, close listeners, remove the guest directory."""
        if self._stopped:
            return
        self._stopped = True
        for sock in self._sockets:
            self._banner.remove(sock)
        if self._run is not None:
            self._run.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

    # -- start-up ------------------------------------------------------------------------------
    def _open_listeners(self) -> int:
        try:
            v6 = listen("::1", 0)
        except OSError:
            v6 = None
        try:
            port = v6.getsockname()[1] if v6 is not None else 0
            v4 = listen(self._v4, port)
        except OSError as exc:
            if v6 is not None:
                v6.close()
            raise GuestError(f"cannot listen on {self._v4}: {exc.strerror}") from None
        for sock in (v4, v6):
            if sock is not None:
                self._sockets.append(sock)
                self._banner.add(sock)
        return int(v4.getsockname()[1])

    def _boot(self) -> None:
        spec = self._spec
        say = self.console_log.say
        say(f"fedprobe-sandbox process guest {spec.server_id} ({spec.hostname}) booting")
        shown = ", ".join(a.addr for a in self._addresses) or "no network"
        say(f"eth0: {shown} (port {self._port})")
        mf, jf = self._dir / "machinefeatures", self._dir / "jobfeatures"
        write_dir(mf, spec.mjf_machine)
        write_dir(jf, spec.mjf_job)
        home = self._dir / "home"
        home.mkdir(mode=0o700)
        env = {"PATH": GUEST_PATH, "HOME": str(home), "LANG": "C.UTF-8",
               "MACHINEFEATURES": str(mf), "JOBFEATURES": str(jf)}
        self._run = run_user_data(spec, self.console_log, self._dir, _isolated, env)


class ProcessBackend:
    """Starts process guests under a state directory."""

    kind = "process"

    def __init__(self, root: Path, console_limit: int, banner: BannerService) -> None:
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True)
        self._counter = itertools.count(1)
        self._console_limit = console_limit
        self.banner = banner

    def start(self, spec: GuestSpec) -> ProcessGuest:
        """Start a guest; 65k guests per sandbox before loopback addresses repeat."""
        index = next(self._counter) % 65024 + 256
        return ProcessGuest(spec, self._root, index, self.banner, self._console_limit)

    def close(self) -> None:
        """Nothing to release: guests are stopped by the server store, the banner by its owner."""
