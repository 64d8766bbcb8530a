"""Process guests: no privileges needed. The user-data runs as a child process in a pid and a
network namespace of its own, the guest gets a loopback IPv4 address of its own (127.77.x.y) and
IPv6 ::1, both answering on a per-guest port, and its machine/job features as
$MACHINEFEATURES/$JOBFEATURES directories."""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import signal
import socket
import subprocess
import threading
from pathlib import Path

from probes.net import listen
from probes.sandbox.guests.banner import BannerService
from probes.sandbox.guests.base import GuestAddress, GuestError, GuestSpec
from probes.sandbox.guests.console import ConsoleLog
from probes.sandbox.guests.mjf import write_dir
from probes.sandbox.guests.userdata import GUEST_PATH, exited_line, wait_or_kill, write_script

REACH_PORT_KEY = "sandbox:reach_port"
# pid 1 of the guest's pid namespace (argument: the script). It runs the script (stdin
# /dev/null, output to the console), writes its exit status to stdout (a pipe to the sandbox),
# then waits for end of file on stdin: a pipe only the sandbox holds open, for the guest's life.
# When the sandbox closes it (stop) or dies, even by SIGKILL, pid 1 ends and the kernel kills
# whatever is left in the namespace — daemonised or not, as powering off a VM would.
_INIT = '"$1" </dev/null >&2\necho "$?"\nexec >&-\nread -r _ || :\n'


def _isolated(script: Path) -> list[str]:
    """The guest's init under a pid namespace and a network namespace (only a down loopback)
    of its own: a process guest lives on the host, and its script must never reach the host's
    network — e.g. this machine's own 169.254.169.254. Unprivileged: through a user namespace."""
    as_root = os.geteuid() == 0
    return ["unshare", "--pid", "--fork", "--kill-child", "--net",
            *([] if as_root else ["--map-root-user"]), "sh", "-c", _INIT, "sh", str(script)]


class GuestInit:
    """A process guest's pid namespace, whose init runs the user-data; stop() ends it."""

    def __init__(self, proc: subprocess.Popen[bytes], status: int, lifeline: int,
                 console: ConsoleLog) -> None:
        self._proc = proc
        self._status = status
        self._lifeline: int | None = lifeline
        self._console = console
        self._stopping = False
        self._reporter = threading.Thread(target=self._report, name=f"guest-init-{proc.pid}",
                                          daemon=True)
        self._reporter.start()

    def _report(self) -> None:
        with open(self._status, "rb") as pipe:
            line = pipe.readline().strip()
        if self._stopping:
            return
        if line.isdigit():
            self._console.say(exited_line(int(line)))
        else:  # the namespace could not be made, or its init was killed before the script ended
            self._console.say("cloud-init: user-data script did not finish: the guest's init "
                              f"exited with status {self._proc.wait()}")

    def exit_status(self) -> int | None:
        """None while the namespace lives, else the status of its unshare."""
        return self._proc.poll()

    def stop(self) -> None:
        """SIGTERM the script's process group and close the init's lifeline: the init ends
        once the script has, and the kernel kills the namespace. SIGKILL after a grace."""
        self._stopping = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGTERM)
        if self._lifeline is not None:
            os.close(self._lifeline)
            self._lifeline = None
        wait_or_kill(self._proc)  # unshare's --kill-child hands a SIGKILL on to the init
        # The status pipe is at end of file now: nothing in the namespace is left to write.
        self._reporter.join(timeout=5)


def start_init(spec: GuestSpec, console: ConsoleLog, directory: Path,
               env: dict[str, str]) -> GuestInit | None:
    """Start the guest's namespace running its user-data, if cloud-init would run it."""
    script = write_script(spec, console, directory)
    if script is None:
        return None
    status_r, status_w = os.pipe()
    life_r, life_w = os.pipe()
    try:
        with console.path.open("ab") as out:
            proc = subprocess.Popen(_isolated(script), stdin=life_r, stdout=status_w,
                                    stderr=out, cwd=directory, env=env,
                                    start_new_session=True)
    except OSError as exc:
        os.close(status_r)
        os.close(life_w)
        console.say(f"cloud-init: failed to run user-data script: {exc.strerror}")
        return None
    finally:
        os.close(status_w)
        os.close(life_r)
    return GuestInit(proc, status_r, life_w, console)


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
        self._init: GuestInit | None = None
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
        """Up until stopped or its namespace dies (the script may finish, as on a VM)."""
        return not self._stopped and (self._init is None or self._init.exit_status() is None)

    @property
    def fault(self) -> str:
        """Why the guest died (the server's fault message)."""
        code = self._init.exit_status() if self._init is not None else None
        return f"guest init exited unexpectedly (status {code})"

    def stop(self) -> None:
        """Kill everything in the guest's namespace, close listeners, remove its directory."""
        if self._stopped:
            return
        self._stopped = True
        for sock in self._sockets:
            self._banner.remove(sock)
        if self._init is not None:
            self._init.stop()
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
        self._init = start_init(spec, self.console_log, self._dir, env)


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
