"""The one place that decides OK/WARNING/CRITICAL/UNKNOWN for a lifecycle result, from the
site's policy and the -w/-c ranges — and renders it the Nagios way through nagiosplugin
(Resource -> Metric -> Context -> Result -> Summary), without its process-wide runtime."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import nagiosplugin
from nagiosplugin.state import Critical, Ok, ServiceState, Unknown, Warn

from probes.checks.nagios import cap, evaluate
from probes.config.site import Site
from probes.runner.result import PLUGIN_NAME, LifecycleResult, Outcome, Phase

NAME = PLUGIN_NAME.lower()
_ALWAYS_CRITICAL = ("auth", "discover", "create", "boot", "delete", "gone")
# The policy words (docs/vm-probe.md#policy): what a finding is worth.
_NEED = {"required": Critical, "warning": Warn, "informational": Ok, "off": Ok}


def finding(phase: Phase, site: Site) -> str | None:
    """What the phase found wrong, whatever the policy makes of it (None: it came out clean, or
    did not run, or the policy turned the check off)."""
    p, policy = phase, site.policy
    if p.outcome in (Outcome.FAILED, Outcome.WARNED) or (
            p.outcome == Outcome.UNAVAILABLE and p.data.get("missing")):
        return p.detail  # (a check the driver cannot make is a finding too)
    hygiene = list(p.data.get("hygiene", []))
    if p.name == "context" and p.outcome == Outcome.PASSED and hygiene and \
            policy.hygiene != "off":
        return "image hygiene: " + "; ".join(hygiene)
    return None


def _by_policy(need: str, what: str, detail: str) -> tuple[ServiceState, str]:
    return _NEED[need], f"{detail} ({what} {need})"


def judge(phase: Phase, site: Site) -> tuple[ServiceState, str]:
    """The state a phase's outcome deserves at this site, and why."""
    p, policy = phase, site.policy
    if p.outcome == Outcome.SKIPPED:
        return Ok, p.detail  # did not run: it proves nothing (the phase that stopped it judges)
    if p.outcome == Outcome.UNAVAILABLE and p.data.get("missing"):
        # the driver cannot look: worth what the policy says the check is worth, never OK
        # on its own (informational shows it; off never ran the phase)
        if p.name in ("reach_v4", "reach_v6"):
            family = f"IPv{p.name[-1]}"
            return _by_policy(policy.ipv4 if p.name == "reach_v4" else policy.ipv6, family,
                              p.detail)
        if p.name == "context":
            return _by_policy(policy.context, "context", p.detail)
        if p.name == "mjf":
            return _by_policy(policy.mjf, "mjf", p.detail)
        return Warn, p.detail  # the sweep: leftovers cannot be looked for
    if p.outcome == Outcome.UNAVAILABLE:
        if p.name != "context":
            return Unknown, p.detail  # interrupted: nothing is known about the site
        return {"unknown": Unknown, "warning": Warn,
                "critical": Critical}[policy.console_forbidden], p.detail
    found = finding(p, site)
    if found is None:
        return Ok, p.detail
    if p.name in _ALWAYS_CRITICAL:
        return Critical, found
    if p.name == "sweep":
        return Warn, found
    if p.name in ("reach_v4", "reach_v6"):
        family = f"IPv{p.name[-1]}"
        return _by_policy(policy.ipv4 if p.name == "reach_v4" else policy.ipv6, family, found)
    if p.name == "context":
        if p.outcome == Outcome.FAILED:
            return _by_policy(policy.context, "context", found)
        return _by_policy(policy.hygiene, "hygiene", found)
    if p.name == "mjf":
        if p.outcome == Outcome.WARNED and policy.mjf == "required":
            return Warn, f"{found} (mjf required)"  # a warning stays a warning
        return _by_policy(policy.mjf, "mjf", found)
    return Critical, found


class _Lifecycle(nagiosplugin.Resource):  # type: ignore[misc]
    """Turns a finished result into one metric per phase plus the total."""

    def __init__(self, result: LifecycleResult) -> None:
        self.result = result

    def probe(self) -> list[nagiosplugin.Metric]:
        metrics = [nagiosplugin.Metric(p.name, round(p.duration or 0.0, 3), "s", min=0,
                                       context="phase") for p in self.result.phases]
        metrics.append(nagiosplugin.Metric("total", round(self.result.total, 3), "s", min=0,
                                           context="total"))
        metrics.append(nagiosplugin.Metric("leaked", 1 if self.result.maybe_leaked else 0,
                                           min=0, context="leak"))
        metrics.append(nagiosplugin.Metric("run", 0, context="run"))
        return metrics


class _PhaseContext(nagiosplugin.ScalarContext):  # type: ignore[misc]
    """Policy first; then the phase's own -w/-c duration range if it ran."""

    def __init__(self, site: Site, ranges: Mapping[str, tuple[str | None, str | None]]) -> None:
        super().__init__("phase")
        self.site = site
        self.ranges = {k: (nagiosplugin.Range(w) if w else None,
                           nagiosplugin.Range(c) if c else None) for k, (w, c) in ranges.items()}

    def _phase(self, resource: _Lifecycle, name: str) -> Phase:
        return resource.result.phase(name)

    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: _Lifecycle) -> nagiosplugin.Result:
        phase = self._phase(resource, metric.name)
        state, hint = judge(phase, self.site)
        warn, crit = self.ranges.get(metric.name, (None, None))
        ran = phase.outcome != Outcome.SKIPPED and phase.duration is not None
        if state == Ok and ran:
            if crit is not None and not crit.match(metric.value):
                state, hint = Critical, f"took {metric.value:.1f}s (critical {crit})"
            elif warn is not None and not warn.match(metric.value):
                state, hint = Warn, f"took {metric.value:.1f}s (warning {warn})"
        return nagiosplugin.Result(state, f"{metric.name}: {hint}", metric)

    def performance(self, metric: nagiosplugin.Metric,
                    resource: _Lifecycle) -> nagiosplugin.Performance | None:
        phase = self._phase(resource, metric.name)
        if phase.outcome == Outcome.SKIPPED or phase.duration is None:
            return None
        warn, crit = self.ranges.get(metric.name, (None, None))
        return nagiosplugin.Performance(metric.name, metric.value, "s", warn, crit, 0)


class _LeakContext(nagiosplugin.Context):  # type: ignore[misc]
    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: _Lifecycle) -> nagiosplugin.Result:
        r = resource.result
        if r.leaked_server_id:
            return nagiosplugin.Result(Critical, f"VM {r.leaked_server_id} was NOT deleted: "
                                                 "the next run retries; if it stays, delete it "
                                                 "by hand", metric)
        if r.uncertain:
            return nagiosplugin.Result(Critical, r.uncertain, metric)
        return nagiosplugin.Result(Ok, "nothing left behind", metric)

    def performance(self, metric: nagiosplugin.Metric,
                    resource: _Lifecycle) -> nagiosplugin.Performance:
        return nagiosplugin.Performance("leaked", metric.value, "", None, None, 0)


class _RunContext(nagiosplugin.Context):  # type: ignore[misc]
    """An interrupted run proves nothing about the site, whatever its phases said."""

    def evaluate(self, metric: nagiosplugin.Metric,
                 resource: _Lifecycle) -> nagiosplugin.Result:
        r = resource.result
        if not r.interrupted:
            return nagiosplugin.Result(Ok, "ran to its end", metric)
        cut = any(p.outcome == Outcome.UNAVAILABLE or p.detail.startswith(
            "not run: interrupted") for p in r.phases if p.name not in ("delete", "gone"))
        return nagiosplugin.Result(Unknown, "stopped before every check ran" if cut else
                                   "every check had run, but the run was stopped", metric)

    def performance(self, metric: nagiosplugin.Metric, resource: _Lifecycle) -> None:
        return None


class _Summary(nagiosplugin.Summary):  # type: ignore[misc]
    def __init__(self, result: LifecycleResult, site: Site) -> None:
        self.result = result
        self.site = site

    def ok(self, results: Any) -> str:
        r = self.result
        boot = r.phase("boot").duration or 0.0
        informational = [f"; {p.name}: {judge(p, self.site)[1]}" for p in r.phases
                         if finding(p, self.site) is not None]
        return (f"VM lifecycle OK at {r.site} in {r.total:.1f}s (boot {boot:.1f}s, "
                f"{_families(r)}){''.join(informational)}")

    def problem(self, results: Any) -> str:
        worst = max(int(x.state) for x in results)
        hints = [str(x.hint) for x in results if int(x.state) == worst]
        prefix = ("interrupted by " + self.result.interrupted + "; ") \
            if self.result.interrupted else ""
        return f"{prefix}{'; '.join(hints[:2])}"


def _families(r: LifecycleResult) -> str:
    seen = [f"IPv{n[-1]}" for n in ("reach_v4", "reach_v6")
            if r.phase(n).outcome == Outcome.PASSED]
    return "reachable over " + " and ".join(seen) if seen else "no reachability tested"


def long_output(result: LifecycleResult, verbose: int) -> list[str]:
    """Per-phase lines for -v; with -vv each phase's data too."""
    lines = [f"{p.name:<9} {p.outcome.value:<11} "
             f"{'' if p.duration is None else f'{p.duration:7.2f}s'} {p.detail}".rstrip()
             for p in result.phases]
    if verbose >= 2:
        for p in result.phases:
            lines += [f"  {p.name}.{k} = {v}" for k, v in p.data.items()]
        lines.append(f"run id {result.run_id}, server {result.server_id or '-'}")
    return lines


def render(result: LifecycleResult, site: Site, verbose: int, total_warn: str | None,
           total_crit: str | None,
           phase_ranges: Mapping[str, tuple[str | None, str | None]]) -> tuple[str, int]:
    """The plugin output (≤ 4 KiB) and its exit code."""
    check = nagiosplugin.Check(
        _Lifecycle(result), _PhaseContext(site, phase_ranges),
        nagiosplugin.ScalarContext("total", total_warn, total_crit),
        _LeakContext("leak"), _RunContext("run"), _Summary(result, site))
    text, code = evaluate(check, NAME, long_output(result, verbose) if verbose else ())
    return cap(text), code
