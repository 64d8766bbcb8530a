"""Machine/job features a guest sees (HSF-TN-2016-02): configured values, completed per server."""

from __future__ import annotations

from pathlib import Path

from probes.sandbox.config import Mjf


def features(cfg: Mjf, server_id: str, created: float) -> tuple[dict[str, str], dict[str, str]]:
    """(machine, job) key -> value for one server; configured values win over computed ones."""
    start = int(created)
    shutdown = start + cfg.lifetime_secs
    machine = {"shutdowntime": str(shutdown)}
    machine.update({k: str(v) for k, v in cfg.machine.items()})
    job = {"jobstart_secs": str(start), "shutdowntime_job": str(shutdown), "job_id": server_id}
    job.update({k: str(v) for k, v in cfg.job.items()})
    return machine, job


def write_dir(directory: Path, values: dict[str, str]) -> None:
    """One file per key, its content the value and a newline (as Vac/batch systems write them)."""
    directory.mkdir(parents=True, exist_ok=True)
    for key, value in values.items():
        (directory / key).write_text(value + "\n", encoding="utf-8")
