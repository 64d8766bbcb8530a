"""The guards for one pytest session: a violation log, the environment that turns the guards on
in every Python process the tests start, and the check run after each test."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from probes.programs import PROGRAMS

from . import audit, egress

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(__file__).resolve().parent / "site"


def own_dirs() -> tuple[str, ...]:
    """Where our own programs are: the checkout, the venvs, the interpreter, temporary files
    (tests' scripts, the sandbox's guests)."""
    dirs = [str(ROOT), sys.prefix, os.path.realpath(sys.executable),
            os.path.realpath(tempfile.gettempdir()), tempfile.gettempdir()]
    for var in ("FEDPROBE_KEYSTONE_VENV", "FEDPROBE_CLIENTS_VENV"):  # the Makefile's venvs
        venv = os.environ.get(var)
        if venv:
            dirs.append(os.path.abspath(venv))
    return tuple(dict.fromkeys(dirs))


@dataclass
class GuardSession:
    """The log of this session's violations and how far it has been reported."""

    log: str
    offset: int = 0
    reported: list[audit.Violation] = field(default_factory=list)

    def new_violations(self) -> list[audit.Violation]:
        """Violations since the last call (any process, any test)."""
        found, self.offset = audit.read_log(self.log, self.offset)
        self.reported.extend(found)
        return found


def pythonpath(*first: str | Path) -> str:
    """A PYTHONPATH for a child process: these directories first, then the current one, which
    turns the guards on in the child (replacing it would leave the child unguarded)."""
    current = os.environ.get("PYTHONPATH")
    return os.pathsep.join([*(str(d) for d in first), *([current] if current else [])])


def start() -> GuardSession:
    """Guards on here and, through the environment, in every process started from now on."""
    log = Path(tempfile.mkdtemp(prefix="fedprobe-guard-")) / "violations.jsonl"
    log.touch()
    own = own_dirs()
    os.environ[audit.LOG_VAR] = str(log)
    os.environ[audit.NETNS_VAR] = str(egress.netns_id())
    os.environ[audit.OWN_VAR] = os.pathsep.join(own)
    os.environ["PYTHONPATH"] = pythonpath(SITE)
    audit.install(str(log), egress.netns_id(), own, frozenset(PROGRAMS))
    return GuardSession(str(log))
