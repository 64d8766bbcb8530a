"""The guest script under busybox sh, dash and bash, and the report parser on real and broken
consoles."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from probes import programs
from probes.guest.report import read
from probes.guest.script import user_data

NONCE = "0123456789abcdef0123456789abcdef"
SHELLS = [["busybox", "sh"], ["dash"], ["bash"]]


def run_script(shell: list[str], tmp_path: Path, env: dict[str, str],
               wrap: list[str] | None = None) -> str:
    script = tmp_path / "ud.sh"
    script.write_text(user_data(NONCE))
    # no network: the script must never reach this host's real metadata service
    cmd = [*(wrap or []), "unshare", "--net", *(["--map-root-user"] if os.geteuid() else []),
           programs.require(shell[0]), *shell[1:], str(script)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                          env={"PATH": os.environ["PATH"], **env})
    assert proc.returncode == 0, proc.stderr
    return proc.stdout + proc.stderr


@pytest.mark.parametrize("shell", SHELLS, ids=lambda s: s[0])
def test_script_reports_mjf_from_directories(shell: list[str], tmp_path: Path) -> None:
    mf, jf = tmp_path / "mf", tmp_path / "jf"
    mf.mkdir()
    jf.mkdir()
    (mf / "total_cpu").write_text("8\n")
    (mf / "hs06").write_text("80.5\n")
    (jf / "allocated_cpu").write_text("2\n")
    (jf / "job_id").write_text("vm-42\n")
    out = run_script(shell, tmp_path, {"MACHINEFEATURES": str(mf), "JOBFEATURES": str(jf)})
    reading = read(out, NONCE)
    assert reading.report is not None and reading.report.complete, out
    report = reading.report
    assert report.mjf_source == "env" and report.metadata_source == "none"
    assert report.mjf_machine == {"total_cpu": "8", "hs06": "80.5"}
    assert report.mjf_job == {"allocated_cpu": "2", "job_id": "vm-42"}


def test_script_holds_no_secret_and_rejects_bad_nonce() -> None:
    text = user_data(NONCE)
    assert text.startswith("#!/bin/sh\n") and NONCE in text
    with pytest.raises(ValueError):
        user_data("not-hex; rm -rf /")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for a private mount namespace")
def test_script_reports_hygiene(tmp_path: Path) -> None:
    wrap = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
            "mount -t tmpfs tmpfs /root && mkdir -p /root/.ssh /root/.aws && "
            "printf 'ssh-rsa AAAA a@b\\n# comment\\nssh-ed25519 BBBB c@d\\n' "
            "> /root/.ssh/authorized_keys && touch /root/.aws/credentials && exec \"$@\"",
            "wrap"]
    out = run_script(["dash"], tmp_path, {}, wrap=wrap)
    report = read(out, NONCE).report
    assert report is not None and report.complete
    assert report.authorized_keys == 2
    assert report.authorized_keys_files == ("/root/.ssh/authorized_keys",)
    assert report.credential_files == ("/root/.aws/credentials",)


def _console(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def test_interleaved_kernel_lines_are_ignored() -> None:
    text = _console("[    1.2] random: crng init done",
                    f"FPR {NONCE} begin v=1", "[    1.3] eth0: link up",
                    f"FPR {NONCE} ran=1", f"noise FPR {NONCE} mjf.machine.total_cpu=2\r",
                    f"FPR {NONCE} end lines=4")
    reading = read(text, NONCE)
    assert reading.report is not None and reading.report.complete
    assert reading.report.mjf_machine == {"total_cpu": "2"}


def test_other_runs_report_is_not_proof() -> None:
    other = "f" * 32
    reading = read(_console(f"FPR {other} begin v=1", f"FPR {other} end lines=2"), NONCE)
    assert reading.report is None and reading.other_runs == 1
    assert "another run" in reading.problem


@pytest.mark.parametrize("text", [
    _console(f"FPR {NONCE} begin v=1", f"FPR {NONCE} ran=1"),                   # cut short
    _console(f"FPR {NONCE} begin v=1", f"FPR {NONCE} end lines=5"),             # lines lost
])
def test_incomplete_reports(text: str) -> None:
    reading = read(text, NONCE)
    assert reading.report is not None and not reading.report.complete
    assert "incomplete" in reading.problem


def test_nothing_yet() -> None:
    assert read("booting...\n", NONCE).problem.startswith("no report of this run")
