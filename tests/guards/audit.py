"""The test suite's guards, as a Python audit hook (PEP 578) in the pytest process and in every
Python process it starts (through tests/guards/site/sitecustomize.py):

- **exec**: a program run through subprocess, os.exec*, os.posix_spawn, os.spawn* or
  os.system — and every program its wrappers start — must be in probes.programs' registry,
  unless it is the project's own (a venv, the checkout, a test's temporary files);
- **egress**: socket connect/sendto/sendmsg only to what tests/guards/egress.py allows, and
  names resolved only from /etc/hosts.

A violation is refused (Blocked, a PermissionError, before anything runs or is sent) and
written to the session's log, so the test fails even where the code under test swallows the
error (tests/conftest.py reads the log after each test)."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import argv, egress

LOG_VAR = "FEDPROBE_TEST_GUARD_LOG"     # the session's violation log; set: guards on
NETNS_VAR = "FEDPROBE_TEST_GUARD_NETNS"  # the host's network namespace (inode)
OWN_VAR = "FEDPROBE_TEST_GUARD_OWN"      # os.pathsep-separated directories of our own programs
# Set it to a file to list there every program the tests run (registered or not), e.g. to
# review the registry: FEDPROBE_TEST_GUARD_INVENTORY=/tmp/programs make test
INVENTORY_VAR = "FEDPROBE_TEST_GUARD_INVENTORY"


class Blocked(PermissionError):
    """A test ran an unregistered program or sent traffic off the machine."""


@dataclass(frozen=True)
class Violation:
    """One refused exec or connection."""

    kind: str     # "exec" or "egress"
    detail: str
    pid: int
    test: str     # the test running when it happened (or when the process was started)

    def line(self) -> str:
        """How a failing test reports it."""
        return f"{self.kind}: {self.detail} (pid {self.pid}, during {self.test or '?'})"


@dataclass
class _State:
    log: str
    host_netns: int
    own: tuple[str, ...]
    registered: frozenset[str]
    hosts: dict[str, set[str]]
    inventory: str = ""
    expected: list[Violation] | None = None


_state: _State | None = None
_busy = threading.local()
_WATCHED = frozenset({"subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.system",
                      "socket.connect", "socket.sendto", "socket.sendmsg", "socket.getaddrinfo",
                      "socket.gethostbyname", "socket.gethostbyaddr"})


def _own(path: str, own: tuple[str, ...]) -> bool:
    """Is this program one of ours (found by path, not by name on PATH)?"""
    if "/" not in path:
        return False
    full = os.path.abspath(path)
    return any(full == d or full.startswith(d.rstrip("/") + "/") for d in own)


def exec_violations(executable: str, args: list[str], registered: frozenset[str],
                    own: tuple[str, ...]) -> list[str]:
    """Why this exec is refused: one line per unregistered program in its chain."""
    return [f"{given!r} is not in probes/programs.py's registry (add it with its Debian "
            f"package, and install that package in dev/system-deps)"
            for given, name in argv.programs_in(executable, args)
            if not _own(given, own) and name not in registered]


def _exec_event(event: str, args: tuple[Any, ...]) -> list[tuple[str, list[str]]] | None:
    """(executable, argv) of what an exec event runs; None for other events."""
    if event == "subprocess.Popen":
        return [(os.fsdecode(args[0]), [os.fsdecode(a) for a in args[1]])]
    if event in ("os.exec", "os.posix_spawn"):
        return [(os.fsdecode(args[0]), [os.fsdecode(a) for a in args[1]])]
    if event == "os.spawn":
        return [(os.fsdecode(args[1]), [os.fsdecode(a) for a in args[2]])]
    if event == "os.system":  # the shell, and the first word of its command
        try:
            words = shlex.split(os.fsdecode(args[0]))
        except ValueError:
            words = []
        return [("/bin/sh", ["/bin/sh"]), *([(words[0], words)] if words else [])]
    return None


def _egress_event(event: str, args: tuple[Any, ...], st: _State) -> str | None:
    """Why this socket operation is refused, or None."""
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        host = args[0]
        if egress.name_allowed(host, st.hosts):
            return None
        return f"{event}({host!r}): names resolve only from /etc/hosts in tests (a DNS query " \
               "leaves the machine)"
    sock, address = args[0], args[1]
    host = egress.sockaddr_host(sock.family, address)
    if host is None or (event == "socket.sendmsg" and address is None):
        return None
    in_test_netns = egress.netns_id() != st.host_netns
    if not egress.name_allowed(host, st.hosts):
        return f"{event} to {address!r}: not a local name"
    addrs = st.hosts.get(host.lower(), {"127.0.0.1"} if host.lower() in egress.LOCAL_NAMES
                         else {host})
    bad = [a for a in addrs if not egress.address_allowed(a, in_test_netns)]
    if not bad:
        return None
    where = "a test's network namespace" if in_test_netns else "the host"
    return f"{event} to {address!r} from {where}: tests send only to loopback and to the " \
           "sandbox's own guest ranges while its bridge is up"


def _inventory(path: str, execs: list[tuple[str, list[str]]], own: tuple[str, ...]) -> None:
    names = [name for e in execs for given, name in argv.programs_in(*e) if not _own(given, own)]
    with open(path, "a") as fh:
        fh.write("".join(f"{n}\t{os.environ.get('PYTEST_CURRENT_TEST', '')}\n" for n in names))


def _record(st: _State, kind: str, detail: str) -> Violation:
    found = Violation(kind, detail, os.getpid(), os.environ.get("PYTEST_CURRENT_TEST", ""))
    if st.expected is not None:
        st.expected.append(found)
    else:
        fd = os.open(st.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(found.__dict__) + "\n").encode())
        finally:
            os.close(fd)
    return found


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if event not in _WATCHED or _state is None or getattr(_busy, "on", False):
        return
    _busy.on = True
    try:
        st = _state
        execs = _exec_event(event, args)
        if execs is not None:
            why = [w for e in execs for w in exec_violations(*e, st.registered, st.own)]
            kind = "exec"
            if st.inventory:
                _inventory(st.inventory, execs, st.own)
        else:
            reason = _egress_event(event, args, st)
            why, kind = ([reason] if reason else []), "egress"
        found = [_record(st, kind, w) for w in why]
    finally:
        _busy.on = False
    if found:
        raise Blocked(f"fedprobe test guard: {found[0].detail}")


def install(log: str, host_netns: int, own: tuple[str, ...], registered: frozenset[str]) -> None:
    """Turn the guards on in this process (once; audit hooks cannot be removed)."""
    global _state
    first = _state is None
    _state = _State(log, host_netns, own, registered, egress.etc_hosts(),
                    os.environ.get(INVENTORY_VAR, ""))
    if first:
        sys.addaudithook(_hook)


def install_from_env(load_registry: Callable[[], frozenset[str]]) -> None:
    """In a child process: the guards of the session that started it, if any."""
    log = os.environ.get(LOG_VAR)
    if log:
        own = tuple(d for d in os.environ.get(OWN_VAR, "").split(os.pathsep) if d)
        install(log, int(os.environ.get(NETNS_VAR, "0")), own, load_registry())


def installed() -> bool:
    """Are the guards on in this process?"""
    return _state is not None


@contextlib.contextmanager
def expected() -> Iterator[list[Violation]]:
    """Violations inside the block are collected here instead of failing the test (for the
    guards' own tests; only this process's)."""
    assert _state is not None, "guards not installed"
    seen: list[Violation] = []
    _state.expected = seen
    try:
        yield seen
    finally:
        _state.expected = None


def read_log(log: str, offset: int) -> tuple[list[Violation], int]:
    """Violations written since offset, and the new offset."""
    try:
        with open(log, "rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return [], offset
    complete = data[:data.rfind(b"\n") + 1]
    return ([Violation(**json.loads(line)) for line in complete.splitlines() if line.strip()],
            offset + len(complete))
