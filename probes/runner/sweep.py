"""Removing this monitoring host's own leftovers (from runs that were SIGKILLed) before a run.

Only servers whose metadata names fedprobe, the vm probe and *this* host are candidates, and only
when older than the site's max age: other hosts' probe VMs and users' VMs are never touched.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from probes.drivers.base import CloudDriver, DriverError

KEY_HOST = "fedprobe.host"
KEY_PROBE = "fedprobe.probe"
KEY_RUN = "fedprobe.run"


def tags(host: str, run_id: str) -> dict[str, str]:
    """The metadata every probe VM carries."""
    return {KEY_HOST: host, KEY_PROBE: "vm", KEY_RUN: run_id}


@dataclass(frozen=True)
class SweepResult:
    removed: tuple[str, ...]
    failed: tuple[str, ...]
    kept_young: int


def sweep(driver: CloudDriver, host: str, max_age: float, current_run: str) -> SweepResult:
    """Delete this host's probe VMs older than max_age seconds (not waiting for them)."""
    now = time.time()
    removed, failed, young = [], [], 0
    for server in driver.list_own({KEY_HOST: host, KEY_PROBE: "vm"}):
        if server.metadata.get(KEY_RUN) == current_run:
            continue
        if now - server.created < max_age:
            young += 1
            continue
        try:
            driver.delete(server.id)
            removed.append(server.id)
        except DriverError:
            failed.append(server.id)
    return SweepResult(tuple(removed), tuple(failed), young)
