"""The programs the probe's user-data and the namespace guests' wrapper run — on a namespace or
process guest these are the host's own — are all in probes/programs.py's registry and present.
Shell scripts start programs the audit-hook guard cannot see, so strace records every execve."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from probes import programs
from probes.guest.script import user_data
from probes.sandbox.guests.guestexec import boot_command
from probes.sandbox.guests.process import _isolated
from probes.sandbox.guests.userdata import GUEST_PATH

NONCE = "0123456789abcdef0123456789abcdef"
EXECVE = re.compile(r'^execve\("([^"]+)", .*\) = (-?\d+)', re.M)


def traced_programs(argv: list[str], tmp_path: Path, env: dict[str, str]) -> dict[str, bool]:
    """name -> whether it ran (False: looked for on PATH and found nowhere), for each program
    the argv and its children exec'd."""
    traces = tmp_path / "trace"
    traces.mkdir()
    # -ff: a file per process, so no call is split into "unfinished" and "resumed" lines
    proc = subprocess.run([programs.require("strace"), "-ff", "-qq", "-e", "trace=execve",
                           "-o", str(traces / "t"), *argv], capture_output=True, text=True,
                          timeout=120, env={"PATH": GUEST_PATH, **env}, check=False,
                          stdin=subprocess.DEVNULL)  # a process guest's init waits for EOF
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ran: dict[str, bool] = {}
    calls = [c for t in traces.iterdir() for c in EXECVE.findall(t.read_text())]
    assert calls, "strace saw no execve"
    for path, result in calls:
        name = os.path.basename(path)
        ran[name] = ran.get(name, False) or result == "0"
    return ran


def unregistered(ran: dict[str, bool], own: set[str]) -> list[str]:
    return sorted(n for n in ran if n not in programs.PROGRAMS and n not in own)


@pytest.mark.skipif(os.geteuid() != 0, reason="the namespace wrapper needs root (CI is root)")
def test_namespace_guest_user_data_runs_only_registered_programs(tmp_path: Path) -> None:
    script = tmp_path / "user-data"
    script.write_text(user_data(NONCE))
    script.chmod(0o700)
    mf = tmp_path / "mf"
    mf.mkdir()
    (mf / "total_cpu").write_text("8\n")
    # As a namespace guest boots it, less `ip netns exec` (the guard sees that one): a private
    # network (no metadata service: every fetch fallback runs), mounts and hostname.
    argv = boot_command("unused", "guest-1", script)
    assert argv[:4] == ["ip", "netns", "exec", "unused"]
    ran = traced_programs(["unshare", "--net", *argv[4:]], tmp_path,
                          {"MACHINEFEATURES": str(mf)})
    assert unregistered(ran, {"user-data", "part-001"}) == []
    assert [n for n, ok in ran.items() if not ok] == [], "programs the guest looked for " \
        "and did not find: install their packages (dev/system-deps)"
    # the trace saw the script's programs, not just the wrapper's
    assert {"mount", "hostname", "blkid", "wget", "curl", "timeout", "cut", "ip"} <= \
        set(ran)


def test_process_guest_user_data_runs_only_registered_programs(tmp_path: Path) -> None:
    script = tmp_path / "user-data"
    script.write_text(user_data(NONCE))
    script.chmod(0o700)
    # as the sandbox starts it: its init in pid and network namespaces of its own
    ran = traced_programs(_isolated(script), tmp_path, {})
    assert unregistered(ran, {"user-data"}) == []
    assert {"blkid", "wget", "tr", "head"} <= set(ran)
