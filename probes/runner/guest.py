"""The context and mjf phases: read this run's guest report where the driver finds it (the
console, or what the guest posted home) and judge what it proves. (Whether a finding is
WARNING or CRITICAL is the checks' decision, from the policy.)"""

from __future__ import annotations

import time
from typing import Protocol

from probes.config.site import Site
from probes.deadline import Deadline, DeadlineExceeded
from probes.drivers.base import CloudDriver, Forbidden
from probes.guest import mjf
from probes.guest.report import ConsoleReport, Reading, read
from probes.runner.result import Outcome


class Recorder(Protocol):
    def done(self, outcome: Outcome, detail: str, **data: object) -> None:
        """Record a phase's outcome."""


def _hygiene(report: ConsoleReport) -> list[str]:
    findings = []
    if report.authorized_keys:
        files = ", ".join(report.authorized_keys_files)
        findings.append(f"{report.authorized_keys} unexpected authorized_keys entr"
                        f"{'y' if report.authorized_keys == 1 else 'ies'} ({files})")
    findings += [f"credential-looking file {f}" for f in report.credential_files]
    return findings


def check_context(driver: CloudDriver, server_id: str, nonce: str,
                  api_addresses: tuple[tuple[int, str], ...], ph: Recorder,
                  deadline: Deadline) -> ConsoleReport | None:
    """Poll the report source until this run's report is complete (or time is up)."""
    if not {"console", "report_channel"} & driver.capabilities:
        ph.done(Outcome.UNAVAILABLE, f"not checked: the {driver.name} driver has no way to "
                                     "read the guest's report (no console, no report channel)",
                missing="report")
        return None
    reading = Reading(None, problem="no console read")
    start = time.monotonic()
    try:
        for _ in deadline.polls():
            try:
                text = driver.report(server_id, deadline)
            except Forbidden as exc:
                ph.done(Outcome.UNAVAILABLE, f"console output not allowed by the site: {exc}")
                return None
            if text is None:  # nothing yet (a report channel the guest did not post to)
                continue
            reading = read(text, nonce)
            if reading.report is not None and reading.report.complete:
                break
    except DeadlineExceeded as exc:
        report = reading.report
        ph.done(Outcome.FAILED, f"{reading.problem} after {time.monotonic() - start:.1f}s "
                                f"({exc})", partial=report is not None)
        return None
    report = reading.report
    assert report is not None
    seen = sorted(a for addrs in report.addresses.values() for a in addrs)
    api = sorted(a for _, a in api_addresses)
    ph.done(Outcome.PASSED,
            f"user-data ran (nonce matched); metadata via {report.metadata_source}",
            metadata_source=report.metadata_source, guest_addresses=seen, api_addresses=api,
            routes={str(k): v for k, v in report.routes.items()}, hygiene=_hygiene(report),
            uptime=report.uptime)
    return report


def check_mjf(report: ConsoleReport | None, site: Site, ph: Recorder) -> None:
    """Validate the machine/job features the guest read."""
    if site.policy.mjf == "off":
        ph.done(Outcome.SKIPPED, "not checked (site policy: mjf off)")
        return
    if report is None:
        ph.done(Outcome.SKIPPED, "no guest report to read MJF from")
        return
    keys = len(report.mjf_machine) + len(report.mjf_job)
    if report.mjf_source == "none" or keys == 0:
        ph.done(Outcome.FAILED, "no machine/job features visible in the guest "
                                f"(source: {report.mjf_source})", source=report.mjf_source)
        return
    findings = mjf.validate(report.mjf_machine, report.mjf_job, time.time(),
                            site.policy.mjf_keys)
    errors = [f.message for f in findings if f.severity == "error"]
    warnings = [f.message for f in findings if f.severity == "warning"]
    data = {"source": report.mjf_source, "machine": report.mjf_machine,
            "job": report.mjf_job, "errors": errors, "warnings": warnings}
    if errors:
        ph.done(Outcome.FAILED, "; ".join(errors + warnings), **data)
    elif warnings:
        ph.done(Outcome.WARNED, "; ".join(warnings), **data)
    else:
        ph.done(Outcome.PASSED, f"{keys} keys valid (via {report.mjf_source})", **data)
