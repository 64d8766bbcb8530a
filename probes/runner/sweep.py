"""Removing this machine's leftovers before a run (docs/cleanup.md).

Candidates carry fedprobe's tags for this monitoring host *and* this machine. Two kinds go:
- the VMs of runs in this machine's ledger that are over (their lock is free): at once, whatever
  their age — a killed run's VM, a lost create answer that showed up, a VM a delete could not
  remove;
- any other VM of this host and machine older than the age floor (longer than any run, with its
  guardian, can live), e.g. from a state directory that was wiped.
Never another machine's VMs (an HA pair shares the host name), a live run's (its lock is held) or
a user's. What is reported removed was seen gone (404); what stays is reported.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from probes.deadline import MAX_TIMEOUT, Deadline
from probes.drivers.base import (
    TAG_HOST,
    TAG_MACHINE,
    TAG_PROBE,
    TAG_ROLE,
    TAG_RUN,
    CloudDriver,
    DriverError,
    OwnServer,
    ServerState,
)
from probes.runner import remove
from probes.runner.identity import Identity
from probes.runner.ledger import CREATING, LOST, Entry

KEY_HOST, KEY_MACHINE, KEY_PROBE, KEY_ROLE, KEY_RUN = (TAG_HOST, TAG_MACHINE, TAG_PROBE,
                                                       TAG_ROLE, TAG_RUN)
GUARDIAN_GRACE = 60.0    # how long a run's guardian may outlive the run's hard deadline
AGE_FLOOR = MAX_TIMEOUT + GUARDIAN_GRACE  # no live run is older than this
LOST_KEEP = 600.0        # how long a lost create answer is looked for after its run ended


def tags(identity: Identity, run_id: str) -> dict[str, str]:
    """The metadata every probe VM carries."""
    return {KEY_HOST: identity.host, KEY_MACHINE: identity.machine, KEY_PROBE: "vm",
            KEY_ROLE: identity.role, KEY_RUN: run_id}


def mine(identity: Identity) -> dict[str, str]:
    """The tags that make a probe VM this host's and this machine's."""
    return {KEY_HOST: identity.host, KEY_MACHINE: identity.machine, KEY_PROBE: "vm"}


@dataclass(frozen=True)
class SweepResult:
    removed: tuple[str, ...]      # seen gone after the delete
    failed: tuple[str, ...]       # delete refused, or still there / unconfirmed at the end
    kept_young: int               # this host's, not in the ledger, younger than the floor
    kept_live: int                # of this machine's live runs (another role, a guardian)
    forgotten: tuple[str, ...]    # ledger runs now settled (their VM gone, or never made)
    details: tuple[str, ...]      # one line per failure

    @property
    def present(self) -> int:
        """This host's leftovers still there after the sweep (young ones of unknown runs too)."""
        return len(self.failed) + self.kept_young


def sweep(driver: CloudDriver, identity: Identity, run_id: str, ended: list[Entry],
          live: set[str], max_age: float, budget: Deadline) -> SweepResult:
    """Delete this machine's leftovers (see the module's doc) and watch them go, within budget."""
    now = time.time()
    servers = driver.list_own(mine(identity), budget)
    by_run = {e.run: e for e in ended}
    targets: dict[str, OwnServer | None] = {}
    young = kept_live = 0
    for s in servers:
        run = s.metadata.get(KEY_RUN, "")
        if run == run_id:
            continue
        if run in live:
            kept_live += 1
        elif run in by_run or now - s.created >= max_age:
            targets[s.id] = s
        else:
            young += 1
    listed = {s.metadata.get(KEY_RUN, "") for s in servers}
    for e in ended:  # a server the list did not show (renamed, retagged, gone): by its id
        if e.server and e.server not in targets and e.run not in listed:
            try:
                if driver.status(e.server, budget).state != ServerState.GONE:
                    targets[e.server] = None
            except DriverError:
                targets[e.server] = None
    removed, failed, details = [], [], []
    asked = []
    for sid in targets:
        err = remove.delete(driver, sid, budget)
        if err:
            failed.append(sid)
            details.append(err)
        else:
            asked.append(sid)
    for sid in asked:
        gone = remove.wait_gone(driver, sid, budget, cap=1.0)
        if gone.verdict == remove.GONE:
            removed.append(sid)
        else:
            failed.append(sid)
            details.append(f"{sid}: {gone.detail}")
    left = set(failed)
    forgotten = []
    for e in ended:
        ids = {s.id for s in servers if s.metadata.get(KEY_RUN) == e.run}
        ids |= {e.server} if e.server else set()
        if ids & left:
            continue  # still there: the next run tries again
        if not ids and e.state in (CREATING, LOST) and now <= e.until + LOST_KEEP:
            continue  # a lost create answer may still show
        forgotten.append(e.run)
    return SweepResult(tuple(removed), tuple(failed), young, kept_live, tuple(forgotten),
                       tuple(details))

