"""This machine's record of runs that made, or may have made, a probe VM — so that whoever runs
next (the plugin, the exporter, a run's guardian) removes what a killed run left, at once and by
run id, instead of waiting for the age floor.

One JSON file per site (``ledger/<site>.json``), edited under that site's lock
(``ledger/<site>.lock``, held only while editing). A run holds its own lock (``runs/<run>.lock``)
for as long as it lives, and hands it to its guardian: a run whose lock is free is over, and
what it left is fair game for anyone on this machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from probes.report.atomic import atomic_write
from probes.runner.identity import StateDirError

log = logging.getLogger(__name__)

# What an entry says about its VM.
CREATING = "creating"  # POST /servers is (or was) on its way: a server may exist
CREATED = "created"    # the cloud gave this server id
LEAKED = "leaked"      # delete failed or could not be confirmed: the server may still be there
LOST = "lost"          # the create answer was lost and the server never showed (yet)
STATES = (CREATING, CREATED, LEAKED, LOST)


@dataclass(frozen=True)
class Entry:
    run: str
    site: str
    cloud: str          # auth URL and project: a site renamed or repointed is another cloud
    role: str
    pid: int
    started: float      # wall time
    until: float        # wall time of the run's hard deadline
    state: str = CREATING
    server: str | None = None


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:100] or "_"


class RunLock:
    """Held by a live run (and its guardian, which inherits the descriptor)."""

    def __init__(self, state_dir: Path, run: str) -> None:
        self.path = state_dir / "runs" / f"{_safe(run)}.lock"
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            raise StateDirError(f"{self.path}: cannot lock: {exc.strerror}") from None

    def release(self) -> None:
        """Give up this process's hold (the guardian may still hold it)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def run_alive(state_dir: Path, run: str) -> bool:
    """Whether the run (or its guardian) still holds its lock."""
    path = state_dir / "runs" / f"{_safe(run)}.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def forget_lock(state_dir: Path, run: str, held: bool = False) -> None:
    """Remove an ended run's lock file: only when nobody holds it, or (``held``) by its
    holder, which is about to let go."""
    if held:
        (state_dir / "runs" / f"{_safe(run)}.lock").unlink(missing_ok=True)
        return
    path = state_dir / "runs" / f"{_safe(run)}.lock"
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink(missing_ok=True)
        finally:
            os.close(fd)


class Ledger:
    """The entries of one site, read and changed under the site's lock."""

    def __init__(self, state_dir: Path, site: str) -> None:
        self.state_dir = state_dir
        self.site = site
        self.path = state_dir / "ledger" / f"{_safe(site)}.json"
        self._lock = state_dir / "ledger" / f"{_safe(site)}.lock"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        try:
            fd = os.open(self._lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StateDirError(f"{self._lock}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # held for a read-modify-write: milliseconds
            yield
        finally:
            os.close(fd)

    def _read(self) -> dict[str, Entry]:
        try:
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            return {k: Entry(**v) for k, v in doc["runs"].items()}
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise StateDirError(f"{self.path}: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError, AttributeError):
            # A damaged ledger must not stop monitoring: keep it aside for a human and start
            # again (what it named is still swept by age).
            aside = self.path.with_name(f"{self.path.name}.damaged-{int(time.time())}")
            with contextlib.suppress(OSError):
                os.replace(self.path, aside)
            log.error("ledger %s was damaged; moved to %s", self.path, aside)
            return {}

    def _write(self, entries: dict[str, Entry]) -> None:
        doc: dict[str, Any] = {"version": 1, "runs": {k: asdict(v) for k, v in entries.items()}}
        try:
            atomic_write(self.path, json.dumps(doc, indent=1, sort_keys=True) + "\n")
        except OSError as exc:
            raise StateDirError(f"{self.path}: {exc.strerror}") from None

    def entries(self) -> list[Entry]:
        """Every entry of this site."""
        with self._locked():
            return list(self._read().values())

    def put(self, entry: Entry) -> None:
        """Add or replace the entry of a run."""
        with self._locked():
            entries = self._read()
            entries[entry.run] = entry
            self._write(entries)

    def update(self, run: str, **changes: Any) -> None:
        """Change fields of a run's entry (nothing if it is gone)."""
        with self._locked():
            entries = self._read()
            if run in entries:
                entries[run] = replace(entries[run], **changes)
                self._write(entries)

    def remove(self, *runs: str) -> None:
        """Forget these runs (their VMs are confirmed gone, or never were), and the lock files
        of those that are over (a live run's goes when it ends)."""
        with self._locked():
            entries = self._read()
            if any(r in entries for r in runs):
                for r in runs:
                    entries.pop(r, None)
                self._write(entries)
        for r in runs:
            forget_lock(self.state_dir, r)

    def split(self, cloud: str) -> tuple[list[Entry], set[str]]:
        """(this cloud's entries whose run is over — its lock is free —, every live run id)."""
        entries = self.entries()
        alive = {e.run for e in entries if run_alive(self.state_dir, e.run)}
        return [e for e in entries if e.cloud == cloud and e.run not in alive], alive


def all_sites(state_dir: Path) -> list[str]:
    """The sites with a ledger file (for the exporter's start-up cleanup)."""
    out: list[str] = []
    for path in sorted((state_dir / "ledger").glob("*.json")):
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            runs = json.loads(path.read_text(encoding="utf-8"))["runs"]
            out.extend({v["site"] for v in runs.values()})
    return sorted(set(out))
