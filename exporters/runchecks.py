"""Running one check of one site for the exporter: the same code paths as the plugins (the VM
lifecycle runner and checks.judge/render; probes.runner.fast; the proxy and token judges),
turned into a CheckRun. Never raises: anything unexpected is an UNKNOWN run with reason
``internal``."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from exporters.model import (
    CRITICAL,
    OK,
    STATE_NAMES,
    UNKNOWN,
    WARNING,
    CheckRun,
    PhaseRun,
    failure_reason,
)
from probes.deadline import Deadline, run_deadlines

if TYPE_CHECKING:
    from exporters.config import ExporterConfig, Job
    from probes.auth.keystone import Login
    from probes.config.site import Site
    from probes.drivers.openstack import OpenStackDriver
    from probes.runner.result import LifecycleResult

log = logging.getLogger(__name__)

deadlines = run_deadlines  # (soft, hard) of one run: the same split as ``fedprobe vm -t``


def run_check(job: Job, config: ExporterConfig, host: str, soft: Deadline,
              hard: Deadline) -> CheckRun:
    """Run it; whatever happens, a CheckRun."""
    from probes.config.sources import SiteError

    started = time.time()
    t0 = time.monotonic()
    driver = str(config.sites.get(job.site, {}).get("driver", "openstack"))
    try:
        site = config.site(job.site, need_image=job.check == "vm")
        driver = site.driver
        if job.check == "vm":
            return _vm(site, host, soft, hard, started)
        if job.check in ("keystone", "api"):
            return _health(job, site, soft, started, t0)
        if job.check == "proxy":
            return _proxy(job, config, site, started, t0)
        return _token(job, site, started, t0)
    except SiteError as exc:
        return _failed(job, driver, started, t0, "config", str(exc))
    except Exception as exc:  # a bug or a surprise: one UNKNOWN run, the exporter goes on
        log.exception("%s check of %s failed unexpectedly", job.check, job.site)
        return _failed(job, driver, started, t0, "internal",
                       f"internal error: {type(exc).__name__}: {str(exc)[:200]}")


def _failed(job: Job, driver: str, started: float, t0: float, reason: str,
            text: str) -> CheckRun:
    return CheckRun(job.site, driver, job.check, UNKNOWN, text, started,
                    time.monotonic() - t0, (), reason, log=text)


# -- vm ------------------------------------------------------------------------------------------
def _driver(login: Login, site: Site, deadline: Deadline) -> OpenStackDriver:
    from probes.drivers.openstack import OpenStackDriver

    return OpenStackDriver(login.session, site, deadline)


def _vm(site: Site, host: str, soft: Deadline, hard: Deadline, started: float) -> CheckRun:
    from probes.runner.lifecycle import LifecycleRunner

    result = LifecycleRunner(site, host, soft, hard, _driver).run()
    return vm_run(result, site, started, soft)


def vm_run(result: LifecycleResult, site: Site, started: float,
           soft: Deadline | None = None) -> CheckRun:
    """A finished lifecycle result as the exporter (or a one-shot file) keeps it; the state is
    the one ``fedprobe vm`` without -w/-c ranges would exit with."""
    from probes.checks import vm as checks
    from probes.runner.result import Outcome

    text, state = checks.render(result, site, 2, None, None, {})
    lines = text.splitlines()
    passed = {Outcome.PASSED: True, Outcome.WARNED: True, Outcome.FAILED: False}
    phases = tuple(PhaseRun(p.name, int(checks.judge(p, site)[0]), passed.get(p.outcome),
                            None if p.outcome == Outcome.SKIPPED else p.duration)
                   for p in result.phases)
    reachable = []
    for name, family in (("reach_v4", "ipv4"), ("reach_v6", "ipv6")):
        p = result.phase(name)
        if p.outcome in (Outcome.PASSED, Outcome.FAILED):
            reachable.append((family, p.outcome == Outcome.PASSED))
        elif p.outcome == Outcome.SKIPPED and p.detail.startswith("no IPv"):
            reachable.append((family, False))
    if state in (OK, WARNING):
        reason = ""
    elif result.interrupted:
        reason = "interrupted"
    elif soft is not None and soft.expired() and not soft.cancelled:
        reason = "timeout"
    else:
        reason = failure_reason(phases, state)
        if reason == "internal" and result.leaked_server_id:
            reason = "delete"
    return CheckRun(site.name, site.driver, "vm", state, _status_line(lines), started,
                    result.total, phases, reason, 1 if result.leaked_server_id else 0,
                    tuple(reachable), (), "\n".join(lines))


# -- keystone, api -------------------------------------------------------------------------------
def _health(job: Job, site: Site, soft: Deadline, started: float, t0: float) -> CheckRun:
    from probes.checks.steps import render
    from probes.runner import fast as health

    if job.check == "keystone":
        checked = health.keystone(site, soft, job.options.services, job.options.token_warning)
        plugin = "KEYSTONE"
    else:
        checked = health.api(site, soft)
        plugin = "CLOUD_API"
    text, state = render(plugin, list(checked.steps), checked.summary, 1)
    phases = tuple(PhaseRun(s.name, s.state, s.state in (OK, WARNING), s.seconds)
                   for s in checked.steps)
    reason = failure_reason(phases, state)
    if reason and soft.expired() and not soft.cancelled:
        reason = "timeout"
    lines = text.splitlines()
    return CheckRun(site.name, site.driver, job.check, state, _status_line(lines),
                    started, time.monotonic() - t0, phases, reason, log="\n".join(lines))


def _status_line(lines: list[str]) -> str:
    """The plugin's status line without its perfdata (the log keeps the whole output)."""
    return lines[0].split(" | ", 1)[0] if lines else ""


# -- proxy, token --------------------------------------------------------------------------------
def _left_state(left: float, options_warning: float | None,
                options_critical: float | None) -> int:
    if left <= 0 or (options_critical is not None and left < options_critical):
        return CRITICAL
    if options_warning is not None and left < options_warning:
        return WARNING
    return OK


def _credential_run(job: Job, site: Site, started: float, t0: float, state: int, text: str,
                    expiries: tuple[tuple[str, float], ...], log_lines: tuple[str, ...] = ()
                    ) -> CheckRun:
    seconds = time.monotonic() - t0
    phase = PhaseRun("credential", state, state in (OK, WARNING), seconds)
    plugin = "X509_PROXY" if job.check == "proxy" else "OIDC_TOKEN"
    return CheckRun(site.name, site.driver, job.check, state,
                    f"{plugin} {STATE_NAMES[state]} - {text}",
                    started, seconds, (phase,), failure_reason((phase,), state),
                    expiries=expiries, log="\n".join(log_lines))


def _proxy(job: Job, config: ExporterConfig, site: Site, started: float,
           t0: float) -> CheckRun:
    from probes.checks.proxy import hours, judge_proxy, summary

    path = job.options.file or site.auth.x509_proxy or ""
    verdict = judge_proxy(Path(path).expanduser(), job.options.cacert or site.cacert,
                          job.options.vo or config.file.vo, job.options.fqan)
    expiries: list[tuple[str, float]] = []
    if verdict.info is not None:
        expiries.append(("proxy", verdict.info.not_after.timestamp()))
    if verdict.ac is not None:
        expiries.append(("voms_ac", verdict.ac.not_after.timestamp()))
    found = list(verdict.findings)
    state = max((f.state for f in found), default=OK)
    if state != OK or verdict.proxy_left is None:
        text = "; ".join(f.message for f in found if f.state == state)
        return _credential_run(job, site, started, t0, state, text, tuple(expiries),
                               tuple(f.message for f in found))
    left = min(x for x in (verdict.proxy_left, verdict.ac_left) if x is not None)
    state = _left_state(left, job.options.warning, job.options.critical)
    text = summary(verdict)
    if state != OK:
        which, limit = (("critical", job.options.critical) if state == CRITICAL
                        else ("warning", job.options.warning))
        text += f" (below the {which} threshold of {hours(limit or 0)})"
    return _credential_run(job, site, started, t0, state, text, tuple(expiries))


def _token(job: Job, site: Site, started: float, t0: float) -> CheckRun:
    from probes.auth.oidc import OidcError, seconds_left
    from probes.checks.proxy import hours

    path = Path(job.options.file or "").expanduser()
    try:
        left = seconds_left(path.read_text(encoding="utf-8").strip())
    except FileNotFoundError:
        return _credential_run(job, site, started, t0, CRITICAL,
                               f"token file {path}: no such file", ())
    except OSError as exc:
        return _credential_run(job, site, started, t0, CRITICAL,
                               f"token file {path}: cannot read: {exc.strerror}", ())
    except UnicodeDecodeError:
        return _credential_run(job, site, started, t0, CRITICAL,
                               f"token file {path}: not text (not an access token)", ())
    except OidcError as exc:
        return _credential_run(job, site, started, t0, CRITICAL, f"token file {path}: {exc}",
                               ())
    expiry = (("token", time.time() + left),)
    state = _left_state(left, job.options.warning, job.options.critical)
    if left <= 0:
        text = f"access token {path} expired {hours(-left)} ago"
    else:
        text = f"access token {path} valid {hours(left)}"
    return _credential_run(job, site, started, t0, state, text, expiry)
