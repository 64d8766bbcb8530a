"""The context and mjf phases: read this run's guest report where the driver finds it (the
console, or what the guest posted home) and judge what it proves. (Whether a finding is
WARNING or CRITICAL is the checks' decision, from the policy.)"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from probes.config.site import Site
from probes.deadline import Deadline, DeadlineExceeded
from probes.drivers.base import CloudDriver, Forbidden
from probes.guest import mjf
from probes.guest.report import ConsoleReport, Reading, read
from probes.runner.inbox import Channel
from probes.runner.pacing import Watch
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


def _sources(driver: CloudDriver, server_id: str, nonce: str, channel: Channel | None,
             deadline: Deadline) -> dict[str, Callable[[], str | None]]:
    """Where this run's report may show, in the order they are read."""
    found: dict[str, Callable[[], str | None]] = {}
    if channel is not None and "report_channel" in driver.capabilities:
        found["posted"] = lambda: channel.inbox.take(nonce)
    if "console" in driver.capabilities:
        found["console"] = lambda: driver.report(server_id, deadline)
    return found


def check_context(driver: CloudDriver, server_id: str, nonce: str,
                  api_addresses: tuple[tuple[int, str], ...], ph: Recorder,
                  deadline: Deadline, channel: Channel | None = None,
                  watch: Watch | None = None) -> ConsoleReport | None:
    """Poll the report's sources (what the guest posted home, the console) until this run's
    report is complete in one of them (or time is up); ``watch`` paces the looks around when
    the site's recent reports were complete, and learns this one's (probes.runner.pacing)."""
    sources = _sources(driver, server_id, nonce, channel, deadline)
    if not sources:
        how = ("give the guest a report URL to post to (--report-listen, --report-url)"
               if "report_channel" in driver.capabilities else "no report channel")
        ph.done(Outcome.UNAVAILABLE, f"not checked: the {driver.name} driver has no way to "
                                     f"read the guest's report (no console; {how})",
                missing="report")
        return None
    url = channel.post_url(nonce) if channel is not None else ""
    unposted = f"the guest posted no report to {url} (can the cloud's network reach it?)"
    reading = Reading(None, problem="no console read" if "console" in sources else unposted)
    via = forbidden = ""
    start = time.monotonic()
    try:
        watch = watch or Watch(None)
        for _ in watch.looks(deadline, cap=3.0):
            for name, get in list(sources.items()):
                try:
                    text = get()
                except Forbidden as exc:
                    if len(sources) == 1:
                        ph.done(Outcome.UNAVAILABLE,
                                f"console output not allowed by the site: {exc}")
                        return None
                    del sources[name]  # the posted report may still come
                    forbidden = f"; console output not allowed by the site: {exc}"
                    if via != "posted":
                        reading, via = Reading(None, problem=unposted), ""
                    continue
                if text is None:  # nothing posted yet
                    continue
                found = read(text, nonce)
                if found.report is not None or reading.report is None:
                    reading, via = found, name
                if found.report is not None and found.report.complete:
                    break
            if reading.report is not None and reading.report.complete:
                watch.hit()
                break
            watch.miss()
    except DeadlineExceeded as exc:
        report = reading.report
        where = (f"; nothing posted to {url}" if len(sources) > 1 and via != "posted"
                 else "")
        ph.done(Outcome.FAILED, f"{reading.problem}{where}{forbidden} after "
                                f"{time.monotonic() - start:.1f}s ({exc})",
                partial=report is not None)
        return None
    report = reading.report
    assert report is not None
    seen = sorted(a for addrs in report.addresses.values() for a in addrs)
    api = sorted(a for _, a in api_addresses)
    ph.done(Outcome.PASSED,
            f"user-data ran (nonce matched); metadata via {report.metadata_source}"
            + (" (report posted home)" if via == "posted" else ""),
            **({"report_via": via} if via == "posted" else {}),
            metadata_source=report.metadata_source, guest_addresses=seen, api_addresses=api,
            routes={str(k): v for k, v in report.routes.items()}, hygiene=_hygiene(report),
            uptime=report.uptime, user_data_seconds=report.ran_seconds)
    return report


def check_mjf(report: ConsoleReport | None, site: Site, ph: Recorder,
              capabilities: frozenset[str]) -> None:
    """Validate the machine/job features the guest read. A driver without ``metadata`` gives
    the guest no metadata to find them in: none in its environment either is not checked."""
    if site.policy.mjf == "off":
        ph.done(Outcome.SKIPPED, "not checked (site policy: mjf off)")
        return
    if report is None:
        ph.done(Outcome.SKIPPED, "no guest report to read MJF from")
        return
    keys = len(report.mjf_machine) + len(report.mjf_job)
    if (report.mjf_source == "none" or keys == 0) and "metadata" not in capabilities:
        ph.done(Outcome.UNAVAILABLE, "not checked: the driver gives the guest no metadata "
                                     "(metadata service or config drive) to read MJF from, "
                                     "and its environment had none "
                                     f"(source: {report.mjf_source})", missing="metadata")
        return
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
