"""Running user-data the way cloud-init treats a ``#!`` script: once, output to the console,
in its own session so the whole process group can be killed when the guest goes away."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from probes.sandbox.guests.base import GuestSpec
from probes.sandbox.guests.console import ConsoleLog

GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_KILL_GRACE = 1.0


def wait_or_kill(proc: subprocess.Popen[bytes]) -> None:
    """Wait a grace period for a process group told to stop; then SIGKILL it."""
    try:
        proc.wait(timeout=_KILL_GRACE)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def exited_line(code: int) -> str:
    """The console line cloud-init writes when the user-data script has ended."""
    return f"cloud-init: user-data script exited with status {code}"


def script_of(user_data: bytes | None) -> bytes | None:
    """The user-data if it is a ``#!`` script cloud-init would execute, else None."""
    if user_data and user_data.startswith(b"#!"):
        return user_data
    return None


class UserDataRun:
    """A running user-data script; stop() kills its process group."""

    def __init__(self, proc: subprocess.Popen[bytes], console: ConsoleLog) -> None:
        self._proc = proc
        self._console = console
        self._stopping = False
        threading.Thread(target=self._reap, name=f"userdata-{proc.pid}", daemon=True).start()

    def _reap(self) -> None:
        code = self._proc.wait()
        if not self._stopping:
            self._console.say(exited_line(code))

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it after a grace period."""
        self._stopping = True
        if self._proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, signal.SIGTERM)
        wait_or_kill(self._proc)


def write_script(spec: GuestSpec, console: ConsoleLog, directory: Path) -> Path | None:
    """Write the spec's user-data where it runs from if cloud-init would run it (None if not);
    say on the console what cloud-init does with it."""
    say = console.say
    script = script_of(spec.user_data)
    if not spec.run_user_data:
        say("cloud-init: user-data not processed")
        return None
    if script is None:
        say("cloud-init: no #! user-data script to run")
        return None
    path = directory / "user-data"
    path.write_bytes(script)
    os.chmod(path, 0o700)  # it may hold anything the user sent
    say(f"cloud-init: running user-data script ({len(script)} bytes)")
    return path


def run_user_data(spec: GuestSpec, console: ConsoleLog, directory: Path,
                  command: Callable[[Path], list[str]], env: dict[str, str]) -> UserDataRun | None:
    """Run the spec's user-data if cloud-init would; say on the console what happened.

    ``command`` turns the written script's path into the argv that runs it (directly, or
    inside a namespace); ``env`` is the whole environment — nothing of the sandbox's leaks in.
    """
    path = write_script(spec, console, directory)
    if path is None:
        return None
    with console.path.open("ab") as out:
        try:
            proc = subprocess.Popen(command(path), stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, cwd=directory, env=env,
                                    start_new_session=True)
        except OSError as exc:
            console.say(f"cloud-init: failed to run user-data script: {exc.strerror}")
            return None
    return UserDataRun(proc, console)
