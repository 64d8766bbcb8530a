"""`make demo`'s scripts, run as a newcomer would: every phase shown with timings, exit 0,
nothing left behind, no password printed."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PHASES = ("auth", "discover", "sweep", "create", "boot", "reach_v4", "reach_v6", "context",
          "mjf", "delete", "gone")


def run(script: str) -> str:
    proc = subprocess.run([sys.executable, str(EXAMPLES / script)], capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "sandbox-demo-pw" not in proc.stdout + proc.stderr
    return proc.stdout


def test_make_demo_runs_the_vm_plugin() -> None:
    out = run("vm_demo.py")
    # CI runs as root with QEMU installed (dev/system-deps): the demo boots a real VM
    assert re.search(r"^guests: +qemu \(real tiny VMs", out, re.M), out
    assert "not QEMU" not in out
    assert "FEDCLOUD_VM OK - VM lifecycle OK at sandbox" in out
    for phase in PHASES:
        assert re.search(rf"^{phase}\s+passed\s+\d+\.\d\ds ", out, re.M), f"{phase}:\n{out}"
    assert "plugin exit status 0 (OK)" in out
    assert "servers left in the sandbox: 0" in out


def test_openstacksdk_tour() -> None:
    out = run("openstacksdk_tour.py")
    for step in ("auth", "discover", "create", "boot", "console", "delete", "gone"):
        assert re.search(rf"^\s+\d+\.\d\ds\s+{step}\s+OK", out, re.M), f"{step}:\n{out}"
    assert "total_cpu=2" in out and "leftovers: 0 server(s)" in out
