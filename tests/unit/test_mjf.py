"""Machine/job features offered to guests."""

from __future__ import annotations

from pathlib import Path

from probes.sandbox.config import Mjf
from probes.sandbox.guests.mjf import features, write_dir


def test_computed_and_configured_values(tmp_path: Path) -> None:
    machine, job = features(Mjf(), "srv-1", 1_000_000.7)
    assert job["jobstart_secs"] == "1000000" and job["job_id"] == "srv-1"
    assert int(machine["shutdowntime"]) == 1_000_000 + Mjf().lifetime_secs
    assert int(job["allocated_cpu"]) <= int(machine["total_cpu"])
    overridden, _ = features(Mjf(machine={"shutdowntime": 5}), "s", 10)
    assert overridden["shutdowntime"] == "5"  # a config can make values wrong on purpose
    write_dir(tmp_path / "mf", machine)
    assert (tmp_path / "mf" / "total_cpu").read_text() == machine["total_cpu"] + "\n"
