"""Golden-output tests of `fedprobe vm` run as a subprocess, as Nagios runs it, against the
sandbox over HTTPS with verification on: the OK path, every injected fault, signals, sweep,
the -t deadline, and that no VM is ever left behind."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest

from probes.sandbox import Sandbox
from tests.conftest import make_config

pytestmark = pytest.mark.slow

FIRST = re.compile(r"^FEDCLOUD_VM (OK|WARNING|CRITICAL|UNKNOWN) - (.+?)(?: \| (.*))?$")
PHASES = ("auth", "discover", "sweep", "create", "boot", "reach_v4", "reach_v6", "context",
          "mjf", "delete", "gone")


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str], seconds: float) -> None:
        self.code, self.out, self.err, self.seconds = (proc.returncode, proc.stdout,
                                                       proc.stderr, seconds)
        match = FIRST.match(self.out.splitlines()[0]) if self.out else None
        assert match, f"not a Nagios status line:\n{self.out}\n{self.err}"
        self.state, self.summary, self.perf = match.group(1), match.group(2), match.group(3)

    def phase(self, name: str) -> str:
        """The -v line of a phase."""
        return next(line for line in self.out.splitlines() if line.startswith(name + " "))


def vm(sb: Sandbox, *args: str, site: str = "sandbox", timeout: float = 60,
       env: dict[str, str] | None = None) -> Run:
    cmd = [sys.executable, "-m", "probes", "vm", "--sites", str(sb.sites_yaml), "--site", site,
           "-t", str(timeout), "--monitoring-host", "probe-test.example.org", *args]
    start = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30,
                          env=env or dict(os.environ))
    return Run(proc, time.monotonic() - start)


def no_vm_left(sb: Sandbox, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while sb.live_servers():
        assert time.monotonic() < deadline, f"VM left behind: {sb.live_servers()}"
        time.sleep(0.1)


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(make_config(), tls=True)


def test_ok_path_golden(sb: Sandbox) -> None:
    run = vm(sb, "-v")
    assert run.code == 0 and run.state == "OK", run.out
    assert re.fullmatch(r"VM lifecycle OK at sandbox in \d+\.\ds \(boot \d+\.\ds, reachable "
                        r"over IPv4 and IPv6\)", run.summary)
    perf = dict(item.split("=", 1) for item in run.perf.split())
    assert set(perf) == {*PHASES, "total", "leaked"}
    assert all(re.fullmatch(r"\d+(\.\d+)?s;;;0", perf[p]) for p in PHASES)
    assert perf["leaked"] == "0;;;0"
    for name in PHASES:
        assert re.match(rf"{name}\s+passed\s+\d+\.\d\ds ", run.phase(name)), run.phase(name)
    assert "nonce matched" in run.phase("context")
    assert "13 keys valid (via env)" in run.phase("mjf")
    assert len(run.out.encode()) <= 4096 and run.err == ""
    no_vm_left(sb)


def test_json_output(sb: Sandbox, tmp_path: Any) -> None:
    import json

    out = tmp_path / "result.json"
    run = vm(sb, "--json", str(out))
    assert run.code == 0
    data = json.loads(out.read_text())
    assert [p["name"] for p in data["phases"]] == list(PHASES)
    assert data["phases"][4]["outcome"] == "passed" and data["leaked_server_id"] is None


def test_a_timeout_not_below_the_schedulers_is_warned_of_in_the_long_output(
        sb: Sandbox) -> None:
    # the shipped check definitions export the scheduler's timeout; the state stays the
    # site's (the warning is about the monitoring set-up, not the cloud)
    env = {**os.environ, "FEDPROBE_SCHEDULER_TIMEOUT": "40"}
    warned = vm(sb, timeout=40, env=env)
    assert warned.state == "OK"
    assert "(warning: -t 40 s is not below the scheduler's timeout of 40 s: the scheduler may " \
           "kill this probe before it has deleted its VM" in warned.out.splitlines()[-1]
    assert "warning: -t" not in vm(sb, timeout=30, env=env).out
    # the option wins over the environment
    assert "timeout of 20 s" in vm(sb, "--scheduler-timeout", "20", timeout=30, env=env).out


def test_console_forbidden_severity_is_site_policy(sb: Sandbox) -> None:
    sb.set_faults(console_forbidden=True)
    assert vm(sb, "--console-forbidden", "warning", timeout=20).state == "WARNING"
    assert vm(sb, "--console-forbidden", "critical", timeout=20).state == "CRITICAL"


def test_undeletable_vm_is_loud(sb: Sandbox) -> None:
    # (a delete that never completes: the golden vm_delete_never_completes, the fake cloud's)
    sb.set_faults(delete_fails=True)
    run = vm(sb, "-v", timeout=15)
    assert run.state == "CRITICAL" and "was NOT deleted" in run.summary
    leaked = sb.live_servers()[0]["id"]
    assert leaked in run.summary  # the operator gets the id to act on
    assert "leaked=1" in run.perf


def test_sigterm_mid_boot_deletes_the_vm(sb: Sandbox) -> None:
    sb.set_faults(latency={"boot": 60})
    cmd = [sys.executable, "-m", "probes", "vm", "-v", "--sites", str(sb.sites_yaml), "--site",
           "sandbox", "-t", "120"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while not sb.live_servers():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    time.sleep(0.5)
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert time.monotonic() - start < 10
    assert proc.returncode == 3, out + err
    assert out.startswith("FEDCLOUD_VM UNKNOWN - interrupted by SIGTERM")
    assert re.search(r"^gone\s+passed", out, re.M), out
    no_vm_left(sb)


def test_phase_thresholds(sb: Sandbox) -> None:
    sb.set_faults(latency={"boot": 1.0})
    run = vm(sb, "--warn-phase", "boot=0.5", "--crit-phase", "boot=30")
    assert run.state == "WARNING" and "boot: took" in run.summary
    assert re.search(r"boot=\d+\.\d+s;0\.5;30;0", run.perf)
    run = vm(sb, "-c", "0.5")
    assert run.state == "CRITICAL"


@pytest.mark.parametrize("mjf,policy,state", [
    ({"machine": {"total_cpu": 1}, "job": {"allocated_cpu": 4}}, "required", "CRITICAL"),
    ({"machine": {"total_cpu": 1}, "job": {"allocated_cpu": 4}}, "warning", "WARNING"),
    ({"machine": {"total_cpu": 1}, "job": {"allocated_cpu": 4}}, "informational", "OK"),
    ({"machine": {"total_cpu": 1}, "job": {"allocated_cpu": 4}}, "off", "OK"),
    ({"machine": {"total_cpu": 2, "shutdowntime": 1000}, "job": {"allocated_cpu": 1}},
     "required", "CRITICAL"),
])
def test_wrong_mjf(sandbox_factory: Callable[..., Sandbox], mjf: dict[str, Any], policy: str,
                   state: str) -> None:
    sb = sandbox_factory(make_config(mjf=mjf), tls=True)
    run = vm(sb, "-v", "--mjf", policy)
    assert run.state == state, run.out
    if policy == "informational":  # OK, and the finding is named
        assert "allocated_cpu 4 > total_cpu 1 (mjf informational)" in run.summary


def test_tls_is_verified(sb: Sandbox, tmp_path: Any) -> None:
    other = tmp_path / "other-ca.pem"
    other.write_text(open("/etc/ssl/certs/ca-certificates.crt").read())
    run = vm(sb, "--cacert", str(other))
    assert run.state == "CRITICAL" and "TLS verification failed" in run.summary
    insecure = vm(sb, "--insecure")
    assert insecure.state == "OK" and "TLS verification is OFF" in insecure.err
