"""dev/ set-up scripts: quiet when they work (the demo is the first screen a newcomer reads),
the end of their log when they fail."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ["quietly", "system-deps", "venv", "fresh-root"]


def quietly(log: Path, script: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "dev/quietly"), str(log), "sh", "-c", script],
                          capture_output=True, text=True, timeout=30, check=False)


def test_a_step_that_works_says_nothing(tmp_path: Path) -> None:
    log = tmp_path / "setup/step.log"
    done = quietly(log, "echo 'WARNING: pip chatter'; echo 'more' >&2")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    assert log.read_text() == "WARNING: pip chatter\nmore\n"
    quietly(log, "echo again")
    assert log.read_text().endswith("more\nagain\n")  # appends: one log per set-up


def test_a_step_that_fails_shows_the_end_of_its_log(tmp_path: Path) -> None:
    log = tmp_path / "step.log"
    done = quietly(log, "seq 1 100; echo 'E: Unable to locate package nope' >&2; exit 100")
    assert done.returncode == 100 and done.stdout == ""
    lines = done.stderr.splitlines()
    assert lines[0].endswith(f"failed (exit 100); the end of its log, {log}:")
    assert lines[-1] == "  | E: Unable to locate package nope" and len(lines) == 41


@pytest.mark.parametrize("script", SCRIPTS)
def test_scripts_parse_as_posix_sh(script: str) -> None:
    done = subprocess.run(["dash", "-n", str(ROOT / "dev" / script)], capture_output=True,
                          text=True, check=False)
    assert done.returncode == 0, done.stderr
