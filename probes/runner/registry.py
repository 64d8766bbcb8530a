"""Every check fedprobe runs, by name, behind one signature — ``CheckRequest -> CheckOutcome``:
the plugins and the exporter look a check up here and run the same code (the runner or the
fast checks' calls, then the judge and the renderer in probes.checks)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING

from probes.runner.fast import SERVICES
from probes.runner.outcome import CheckOutcome, PhaseState
from probes.state import State

if TYPE_CHECKING:
    from probes.checks.steps import Step
    from probes.config.site import OpenStackSite, Site
    from probes.deadline import Deadline
    from probes.runner.custody import Custody
    from probes.runner.inbox import Channel
    from probes.runner.result import LifecycleResult

Ranges = Mapping[str, tuple[str | None, str | None]]


@dataclass(frozen=True)
class CheckRequest:
    """What a check is asked to do: where, within which deadlines, judged how."""

    site: Site
    soft: Deadline                 # the phases' (cancelled by a signal or shutdown)
    hard: Deadline                 # cleanup's, a margin later
    verbose: int = 1               # -v: the long output under the status line
    warning: str | None = None     # -w: total seconds (vm, keystone, api), seconds left (others)
    critical: str | None = None
    custody: Custody | None = None  # vm: identity, ledger and guardian of the probe VM
    phase_ranges: Ranges = field(default_factory=lambda: MappingProxyType({}))  # vm
    channel: Channel | None = None         # vm: where the guest may post its report
    services: tuple[str, ...] = SERVICES   # keystone: the catalog must have these
    token_warning: float = 600.0           # keystone: warn below this token lifetime
    file: Path | None = None               # proxy, token: the credential file
    cacert: str | None = None              # proxy: CA bundle or directory for the chain
    vo: str | None = None                  # proxy: the VO whose AC must be there
    fqan: str | None = None                # proxy: the FQAN the AC must hold


@dataclass(frozen=True)
class CheckSpec:
    """One check: its name, its plugin's name, which worker pool runs it, how to run it."""

    name: str
    plugin: str
    pool: str                      # "vm" (minutes, a VM) or "fast" (seconds, read-only)
    needs_image: bool
    run: Callable[[CheckRequest], CheckOutcome]
    drivers: tuple[str, ...] | None = None  # the site drivers it can check (None: any)


def serves(check: str, driver: str) -> bool:
    """Whether the check can check a site of this driver."""
    spec = CHECKS[check]
    return spec.drivers is None or driver in spec.drivers


def unsupported(check: str, site: Site) -> str | None:
    """Why the check cannot check this site (its driver's API is not what the check asks), in
    one line; None when it can."""
    if serves(check, site.driver):
        return None
    spec = CHECKS[check]
    assert spec.drivers is not None
    return (f"the {check} check is for sites of driver {' or '.join(spec.drivers)}; site "
            f"{site.name} uses driver {site.driver}")


def _openstack(req: CheckRequest, check: str) -> OpenStackSite:
    from probes.config.site import OpenStackSite

    if not isinstance(req.site, OpenStackSite):  # the plugins and the exporter said so first
        raise ValueError(unsupported(check, req.site) or f"{check}: not an OpenStack site")
    return req.site


# -- vm --------------------------------------------------------------------------------------------
def run_vm(req: CheckRequest) -> CheckOutcome:
    """Boot, check and delete a probe VM (the driver the site names)."""
    from probes import drivers
    from probes.runner.lifecycle import LifecycleRunner

    if req.custody is None:
        raise ValueError("a vm check needs the custody of its VMs (identity, state directory)")
    result = LifecycleRunner(req.site, req.custody, req.soft, req.hard, drivers.create,
                             req.channel).run()
    return vm_outcome(result, req.site, req.soft, req.verbose, req.warning, req.critical,
                      req.phase_ranges)


def vm_outcome(result: LifecycleResult, site: Site, soft: Deadline | None = None,
               verbose: int = 2, warning: str | None = None, critical: str | None = None,
               phase_ranges: Ranges | None = None) -> CheckOutcome:
    """A finished lifecycle judged and rendered as ``fedprobe vm`` does."""
    from probes.checks import vm as checks
    from probes.runner.result import Outcome

    text, state = checks.render(result, site, verbose, warning, critical, phase_ranges or {})
    passed = {Outcome.PASSED: True, Outcome.WARNED: True, Outcome.FAILED: False}
    phases = []
    for p in result.phases:
        ran = p.outcome in passed
        phases.append(PhaseState(p.name, int(checks.judge(p, site)[0]),
                                 passed.get(p.outcome), p.duration if ran else None,
                                 ran and checks.finding(p, site) is not None))
    reachable = [(family, result.phase(name).outcome == Outcome.PASSED)
                 for name, family in (("reach_v4", "ipv4"), ("reach_v6", "ipv6"))
                 if result.phase(name).outcome in (Outcome.PASSED, Outcome.FAILED)]
    return CheckOutcome(State(state), text, tuple(phases),
                        1 if result.maybe_leaked else 0,
                        tuple(reachable), interrupted=bool(result.interrupted),
                        present=result.present,
                        timed_out=_timed_out(soft))


def _timed_out(soft: Deadline | None) -> bool:
    return soft is not None and soft.expired() and not soft.cancelled


# -- what a check's phases (or steps) are ---------------------------------------------------------
# Why a run can fail besides a phase of its own (exporters.runchecks.check_run says which).
RUN_REASONS = ("timeout", "internal", "interrupted", "config")


def phase_names(check: str, services: Sequence[str] = SERVICES) -> tuple[str, ...]:
    """The phases (vm) or steps a run of the check can have; keystone's ``catalog_<service>``
    steps appear only when the entry is missing (see failure_reasons)."""
    from probes.runner.result import PHASES

    return {"vm": PHASES,
            "keystone": ("auth", "token_lifetime", *(f"version_{s}" for s in services)),
            "api": ("auth", "flavors", "images", "networks", "limits", "quota"),
            }.get(check, ("credential",))


def failure_reasons(check: str, services: Sequence[str] = SERVICES) -> tuple[str, ...]:
    """Every reason a failed run of the check can be counted under (a metric's label values,
    created at 0 so that the first failure of each shows in ``increase()``)."""
    catalog = tuple(f"catalog_{s}" for s in services) if check == "keystone" else ()
    vm = ("delete",) if check == "vm" else ()
    return tuple(dict.fromkeys((*phase_names(check, services), *catalog, *RUN_REASONS, *vm)))


# -- keystone, api ---------------------------------------------------------------------------------
def _steps_outcome(check: str, steps: list[Step], summary: str,
                   req: CheckRequest) -> CheckOutcome:
    from probes.checks.steps import OK, WARNING, render

    text, state = render(CHECKS[check].plugin, steps, summary, req.verbose, req.warning,
                         req.critical)
    seen = {s.name for s in steps}
    phases = (*(PhaseState(s.name, s.state, s.state in (OK, WARNING), s.seconds, s.state != OK)
                for s in steps),
              *(PhaseState(n, OK, None, None)  # not reached: an earlier step failed
                for n in phase_names(check, req.services) if n not in seen))
    return CheckOutcome(State(state), text, phases, interrupted=req.soft.cancelled,
                        timed_out=_timed_out(req.soft))


def run_keystone(req: CheckRequest) -> CheckOutcome:
    """Login, token lifetime, catalog, version documents."""
    from probes.runner import fast

    checked = fast.keystone(_openstack(req, "keystone"), req.soft, req.services, req.token_warning)
    return _steps_outcome("keystone", list(checked.steps), checked.summary, req)


def run_api(req: CheckRequest) -> CheckOutcome:
    """Flavors, images, networks, limits; quota headroom for the smallest flavor."""
    from probes.runner import fast

    checked = fast.api(req.site, req.soft)
    return _steps_outcome("api", list(checked.steps), checked.summary, req)


# -- proxy, token ----------------------------------------------------------------------------------
def _credential_outcome(state: int, text: str, seconds: float,
                        expiries: tuple[tuple[str, float], ...]) -> CheckOutcome:
    phase = PhaseState("credential", state, state in (State.OK, State.WARNING), seconds,
                       state != State.OK)
    # The file under check is CRITICAL when unusable; UNKNOWN only comes from what configures
    # the check (the CA bundle).
    return CheckOutcome(State(state), text, (phase,), expiries=expiries,
                        config_error=state == State.UNKNOWN)


def run_proxy(req: CheckRequest) -> CheckOutcome:
    """The proxy file: permissions, expiry, chain, the VO's AC; time left against the ranges."""
    from probes.checks.proxy import judge_proxy, render

    t0 = time.monotonic()
    path = req.file or Path(req.site.proxy_file or "")
    verdict = judge_proxy(path.expanduser(), req.cacert or req.site.ca_bundle, req.vo, req.fqan)
    text, state = render(verdict, req.warning, req.critical, req.verbose)
    expiries = [(what, when.not_after.timestamp())
                for what, when in (("proxy", verdict.info), ("voms_ac", verdict.ac))
                if when is not None]
    return _credential_outcome(state, text, time.monotonic() - t0, tuple(expiries))


def run_token(req: CheckRequest) -> CheckOutcome:
    """The access token file: readable, a JWT, time left against the ranges."""
    from probes.checks import token
    from probes.credentials.token import TokenError, read_text, seconds_left

    t0 = time.monotonic()
    path = (req.file or Path()).expanduser()
    left, problem = None, ""
    try:
        left = seconds_left(read_text(path, "token file"))
    except TokenError as exc:
        problem = str(exc)
    text, state = token.render(path, left, problem, req.warning or "", req.critical or "")
    expiries = (("token", time.time() + left),) if left is not None else ()
    return _credential_outcome(state, text, time.monotonic() - t0, expiries)


CHECKS: dict[str, CheckSpec] = {spec.name: spec for spec in (
    CheckSpec("vm", "FEDCLOUD_VM", "vm", True, run_vm),
    CheckSpec("keystone", "KEYSTONE", "fast", False, run_keystone, ("openstack",)),
    CheckSpec("api", "CLOUD_API", "fast", False, run_api, ("openstack",)),
    CheckSpec("proxy", "X509_PROXY", "fast", False, run_proxy),
    CheckSpec("token", "OIDC_TOKEN", "fast", False, run_token),
)}
