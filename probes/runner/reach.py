"""Reachability from the probe host to a VM address: TCP connect (optionally ICMP), retried with
back-off until it works or the phase's time is up."""

from __future__ import annotations

import socket
import subprocess
import time
from dataclasses import dataclass

from probes import programs
from probes.deadline import Deadline, DeadlineExceeded


@dataclass(frozen=True)
class Reach:
    ok: bool
    address: str
    attempts: int
    seconds: float
    banner: str = ""
    error: str = ""
    icmp: bool | None = None  # None: not tried (not asked for, or ping missing: icmp_error)
    icmp_error: str = ""


def _connect(addr: str, port: int, timeout: float) -> str:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect((addr, port))
        try:
            return sock.recv(256).decode("ascii", "replace").strip()
        except OSError:
            return ""  # connected: reachable even if nothing is said


def _ping(addr: str, timeout: float) -> tuple[bool | None, str]:
    """(did one echo get a reply, why ping did not run)."""
    try:
        tool = programs.require("ping")
        proc = subprocess.run([tool, "-c", "1", "-W", str(max(1, int(timeout))), addr],
                              capture_output=True, timeout=timeout + 2, check=False)
    except programs.MissingProgram as exc:
        return None, str(exc)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"ping: {getattr(exc, 'strerror', None) or type(exc).__name__}"
    return proc.returncode == 0, ""


def tcp(addr: str, port: int, deadline: Deadline, icmp: bool = False) -> Reach:
    """Try to connect until it works or the deadline says stop."""
    start = time.monotonic()
    attempts, error = 0, ""
    try:
        for attempts in deadline.polls(first=0.25, cap=3.0):
            try:
                banner = _connect(addr, port, max(0.2, min(5.0, deadline.left())))
            except OSError as exc:
                error = exc.strerror or type(exc).__name__
                continue
            pinged, why = _ping(addr, min(2.0, deadline.left())) if icmp else (None, "")
            return Reach(True, addr, attempts + 1, time.monotonic() - start, banner[:80],
                         icmp=pinged, icmp_error=why)
    except DeadlineExceeded:
        pass
    return Reach(False, addr, attempts + 1, time.monotonic() - start, error=error or "timeout")
