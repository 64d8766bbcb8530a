"""Where fedprobe keeps what must outlive a run: the machine id (when /etc/machine-id is not
usable), the ledger of runs that made or may have made a VM, and the runs' locks. Shared by the
plugins and the exporter of one host when they run as the same user (or share the directory)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from probes.runner.identity import StateDirError

PACKAGED = Path("/var/lib/fedprobe")  # the packages create it, owned by the probes' user
ENV = "FEDPROBE_STATE_DIR"


def default(environ: Mapping[str, str] = os.environ) -> Path:
    """$FEDPROBE_STATE_DIR; else /var/lib/fedprobe when it is there and writable; else
    $XDG_STATE_HOME/fedprobe (~/.local/state/fedprobe)."""
    if environ.get(ENV):
        return Path(environ[ENV])
    if PACKAGED.is_dir() and os.access(PACKAGED, os.W_OK | os.X_OK):
        return PACKAGED
    xdg = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME") or
                                                    Path.home()) / ".local" / "state")
    return Path(xdg) / "fedprobe"


def prepare(path: Path) -> Path:
    """The directory, made (0700) with its parts if missing; StateDirError naming it when it
    cannot be made or written."""
    try:
        for part in (path, path / "ledger", path / "runs"):
            part.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StateDirError(f"state directory {path}: {exc.strerror}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise StateDirError(f"state directory {path}: not writable by this user")
    return path
