"""Removing what this machine's ledger says its ended runs left at a site, outside any run: the
exporter at start-up and soon after a run that left a VM (docs/cleanup.md). Only the ledger's
runs are touched — no age-based sweeping here, that is the runs' own sweep phase."""

from __future__ import annotations

import logging
import math

from probes.config.site import Site
from probes.deadline import Deadline
from probes.runner.custody import Custody
from probes.runner.ledger import Ledger, run_alive
from probes.runner.lifecycle import DriverFactory
from probes.runner.sweep import SweepResult, sweep

log = logging.getLogger(__name__)


def clean_ledger(site: Site, custody: Custody, deadline: Deadline,
                 driver_factory: DriverFactory) -> SweepResult | None:
    """Remove the VMs of this site's ended ledger runs; None when there were none (no login)."""
    ledger = Ledger(custody.state_dir, site.name)
    if not any(not run_alive(custody.state_dir, e.run) for e in ledger.entries()):
        return None  # nothing ended: no login
    driver = driver_factory(site)
    ended, live = ledger.split(driver.connect(deadline).account)
    if not ended:
        return None
    result = sweep(driver, custody.identity, "", ended, live, math.inf, deadline)
    if result.forgotten:
        ledger.remove(*result.forgotten)
    for sid in result.removed:
        log.warning("site %s: removed VM %s an ended run left (404 confirmed)", site.name, sid)
    for line in result.details:
        log.error("site %s: a VM an ended run left is still there: %s", site.name, line)
    return result
