"""`make demo`'s tour, run as a newcomer would: every step OK, MJF and addresses shown, exit 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

TOUR = Path(__file__).resolve().parents[2] / "examples" / "openstacksdk_tour.py"


def test_demo_tour_runs_a_whole_lifecycle() -> None:
    proc = subprocess.run([sys.executable, str(TOUR)], capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for step in ("auth", "discover", "create", "boot", "console", "delete", "gone"):
        assert any(line.split()[1:3] == [step, "OK"] for line in out.splitlines()
                   if len(line.split()) > 2), f"step {step} not OK:\n{out}"
    assert "total_cpu=2" in out and "allocated_cpu=1" in out
    assert "leftovers: 0 server(s)" in out
    assert out.rstrip().endswith("OK, every step worked and nothing was left behind")
    assert "sandbox-demo-pw" not in out + proc.stderr  # the demo's password never printed
