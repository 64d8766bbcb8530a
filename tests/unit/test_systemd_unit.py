"""The exporter's systemd unit (issue 21): systemd's own checker finds nothing wrong in it but the
command it runs, which only the package installs (the install test verifies it inside a root
with the package), and its sandboxing scores <= 2.0 ("OK") in systemd-analyze security (it
was 8.7, EXPOSED)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from probes import programs

UNIT = Path(__file__).resolve().parents[2] / "packaging/systemd/fedprobe-exporter.service"


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([programs.require("systemd-analyze"), *args], capture_output=True,
                          text=True, timeout=60, cwd=UNIT.parent)


def test_systemd_finds_nothing_wrong_but_the_missing_command() -> None:
    out = analyze("verify", str(UNIT))
    complaints = {ln for ln in (out.stdout + out.stderr).splitlines() if ln.strip()}
    missing = "fedprobe-exporter.service: Command /usr/bin/fedprobe is not executable: No such " \
              "file or directory"
    assert complaints <= {missing}, complaints


def test_its_sandboxing_scores_ok() -> None:
    out = analyze("security", "--offline=true", "--no-pager", str(UNIT))
    score = re.search(r"Overall exposure level for fedprobe-exporter\.service: ([\d.]+)",
                      out.stdout + out.stderr)
    assert score is not None, out.stdout[-500:] + out.stderr
    assert float(score.group(1)) <= 2.0, out.stdout
    text = UNIT.read_text()
    assert "StateDirectory=fedprobe" in text and "PrivateTmp=no" in text  # shared ledger, /tmp
