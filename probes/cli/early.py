"""The first thing the ``fedprobe`` program does, before its imports (about half a second under
load): hold SIGTERM/SIGINT — a scheduler's signal during start-up must not kill a plugin without
an exit status — and know when the process started, so that ``-t`` counts from there.

A command that handles signals itself (``fedprobe vm``) takes a signal that came early and acts
on it; for every other command the default handlers come back (a held signal is then delivered,
as it would have been)."""

from __future__ import annotations

import os
import signal
import time
from types import FrameType

HELD = (signal.SIGTERM, signal.SIGINT)
_pending: list[int] = []
_holding = False


def _note(signum: int, frame: FrameType | None) -> None:
    _pending.append(signum)


def hold() -> None:
    """Note SIGTERM/SIGINT instead of dying of them (until release or take)."""
    global _holding
    for sig in HELD:
        signal.signal(sig, _note)
    _holding = True


def take() -> str | None:
    """For a command that installed its own handlers: the signal that came before, if any."""
    global _holding
    _holding = False
    return signal.Signals(_pending[0]).name if _pending else None


def release() -> None:
    """Default handlers back; a signal held meanwhile is delivered now."""
    global _holding
    if not _holding:
        return
    _holding = False
    for sig in HELD:
        signal.signal(sig, signal.SIG_DFL)
    if _pending:
        os.kill(os.getpid(), _pending[0])


def started_ago() -> float:
    """Seconds since this process started (0 when not run as the fedprobe program, e.g. called
    in-process by a test): /proc/self/stat's start time against the boot clock."""
    if not _started_as_program:
        return 0.0
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = int(fields[19])  # field 22, counting from field 3 after the command's name
        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME)
                   - ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


_started_as_program = False


def console_main() -> None:
    """The ``fedprobe`` console script and ``python -m probes``."""
    global _started_as_program
    _started_as_program = True
    hold()
    from probes.cli.main import console_main as run

    try:
        run()
    finally:
        # Done: the output is written. Python's finalization would put the default handlers
        # back (a SIGTERM then kills the process and its exit status is lost); ignored
        # signals stay ignored.
        for sig in HELD:
            signal.signal(sig, signal.SIG_IGN)
