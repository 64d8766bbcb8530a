"""Running one check of one site for the exporter: the check registry's code, the same as the
plugin's (probes.runner.registry), its outcome turned into a CheckRun. Never raises: anything
unexpected is an UNKNOWN run with reason ``internal``."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from exporters.model import OK, UNKNOWN, WARNING, CheckRun, failure_reason
from probes.deadline import Deadline, run_deadlines
from probes.runner.registry import CHECKS, CheckRequest, vm_outcome

if TYPE_CHECKING:
    from exporters.config import ExporterConfig, Job
    from probes.config.site import Site
    from probes.runner.custody import Custody
    from probes.runner.inbox import Channel
    from probes.runner.outcome import CheckOutcome
    from probes.runner.result import LifecycleResult

log = logging.getLogger(__name__)

deadlines = run_deadlines  # (soft, hard) of one run: the same split as ``fedprobe vm -t``


def run_check(job: Job, config: ExporterConfig, custody: Custody, soft: Deadline,
              hard: Deadline, channel: Channel | None = None) -> CheckRun:
    """Run it through the check registry, as its plugin would; whatever happens, a CheckRun."""
    from probes.config.sources import SiteError

    started = time.time()
    t0 = time.monotonic()
    driver = str(config.sites.get(job.site, {}).get("driver", "openstack"))
    spec = CHECKS[job.check]
    try:
        site = config.site(job.site, need_image=spec.needs_image)
        driver = site.driver
        outcome = spec.run(request(job, config, site, custody, soft, hard, channel))
    except SiteError as exc:
        return _failed(job, driver, started, t0, "config", str(exc))
    except Exception as exc:  # a bug or a surprise: one UNKNOWN run, the exporter goes on
        log.exception("%s check of %s failed unexpectedly", job.check, job.site)
        return _failed(job, driver, started, t0, "internal",
                       f"internal error: {type(exc).__name__}: {str(exc)[:200]}")
    duration = time.monotonic() - t0
    return check_run(outcome, site, job.check, started, duration)


def request(job: Job, config: ExporterConfig, site: Site, custody: Custody, soft: Deadline,
            hard: Deadline, channel: Channel | None = None) -> CheckRequest:
    """The job's options as the check's request (seconds thresholds as Nagios ranges)."""
    o = job.options

    def at_least(seconds: float | None) -> str | None:
        return None if seconds is None else f"{seconds:g}:"

    credential = job.check in ("proxy", "token")
    return CheckRequest(
        site, soft, hard, verbose=2 if job.check == "vm" else 1, custody=custody,
        warning=at_least(o.warning) if credential else None,
        critical=at_least(o.critical) if credential else None,
        services=o.services, token_warning=o.token_warning,
        file=Path(o.file).expanduser() if o.file else None, cacert=o.cacert,
        vo=o.vo or (config.file.vo if job.check == "proxy" else None), fqan=o.fqan,
        channel=channel if job.check == "vm" else None)


def check_run(outcome: CheckOutcome, site: Site, check: str, started: float,
              duration: float) -> CheckRun:
    """A check's outcome as the exporter keeps it (and a one-shot file writes it)."""
    state = int(outcome.state)
    if state in (OK, WARNING):
        reason = ""
    elif outcome.interrupted:
        reason = "interrupted"
    elif outcome.timed_out:
        reason = "timeout"
    elif outcome.config_error:
        reason = "config"
    else:
        reason = failure_reason(outcome.phases, state)
        if reason == "internal" and outcome.leaked:
            reason = "delete"
    return CheckRun(site.name, site.driver, check, state, outcome.status_line, started,
                    duration, outcome.phases, reason, outcome.leaked, outcome.reachable,
                    outcome.expiries, outcome.text.rstrip("\n"), outcome.present)


def vm_run(result: LifecycleResult, site: Site, started: float,
           soft: Deadline | None = None) -> CheckRun:
    """A finished lifecycle as the exporter (or a one-shot file) keeps it; the state is the one
    ``fedprobe vm`` without -w/-c ranges would exit with."""
    return check_run(vm_outcome(result, site, soft), site, "vm", started, result.total)


def _failed(job: Job, driver: str, started: float, t0: float, reason: str,
            text: str) -> CheckRun:
    return CheckRun(job.site, driver, job.check, UNKNOWN, text, started,
                    time.monotonic() - t0, (), reason, log=text)
