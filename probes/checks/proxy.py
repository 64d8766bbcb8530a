"""Judging an X509/VOMS proxy for `fedprobe proxy` and the exporter: what is wrong with it (each
finding with its state), how long it and its AC have left against the ranges, and the plugin's
output (through nagiosplugin). Reading the proxy is probes.credentials'."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nagiosplugin
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from probes.checks.nagios import cap, evaluate
from probes.checks.timeleft import hours
from probes.credentials.proxy import (
    CaError,
    ProxyError,
    ProxyInfo,
    check_permissions,
    read_proxy,
    verify_chain,
)
from probes.credentials.voms_ac import VomsAC
from probes.state import CRITICAL, OK, UNKNOWN, WARNING

__all__ = ["CRITICAL", "OK", "UNKNOWN", "WARNING", "Finding", "ProxyVerdict", "hours",
           "judge_proxy", "render", "summary"]
NAME = "X509_PROXY"
_STATES = [Ok, Warn, Critical, Unknown]


@dataclass(frozen=True)
class Finding:
    state: int
    message: str


@dataclass(frozen=True)
class ProxyVerdict:
    path: str
    info: ProxyInfo | None
    ac: VomsAC | None
    proxy_left: float | None
    ac_left: float | None
    findings: tuple[Finding, ...] = field(default_factory=tuple)


def judge_proxy(path: Path, cacert: str | None, vo: str | None, fqan: str | None,
                now: dt.datetime | None = None) -> ProxyVerdict:
    """Everything about one proxy file, each problem as a finding with its Nagios state."""
    now = now or dt.datetime.now(dt.UTC)
    findings: list[Finding] = []
    try:
        info = read_proxy(path)
    except ProxyError as exc:
        return ProxyVerdict(str(path), None, None, None, None, (Finding(CRITICAL, str(exc)),))
    try:
        check_permissions(path)
    except ProxyError as exc:
        findings.append(Finding(CRITICAL, str(exc)))
    left = info.time_left(now)
    if left <= 0:
        findings.append(Finding(CRITICAL, f"proxy expired {hours(-left)} ago "
                                          f"({info.not_after:%Y-%m-%d %H:%M} UTC)"))
    if info.proxy_type == "not a proxy":
        findings.append(Finding(WARNING, f"{path} holds an end-entity certificate, not a proxy"))
    if cacert:
        try:
            verify_chain(path, cacert, now)
        except CaError as exc:  # what configures the check is wrong: nothing is known
            findings.append(Finding(UNKNOWN, str(exc)))
        except ProxyError as exc:
            if left > 0:  # an expired proxy was already said; do not say it twice
                findings.append(Finding(CRITICAL, str(exc)))
    ac, ac_left = None, None
    if vo:
        matching = [a for a in info.acs if a.vo == vo]
        if not matching:
            have = ", ".join(a.vo for a in info.acs) or "none"
            findings.append(Finding(CRITICAL, f"no VOMS attributes for VO {vo} "
                                              f"(the proxy has: {have})"))
        else:
            ac = matching[0]
            ac_left = (ac.not_after - now).total_seconds()
            if ac_left <= 0:
                findings.append(Finding(CRITICAL, f"VOMS AC for {vo} expired "
                                                  f"{hours(-ac_left)} ago"))
            elif ac.not_before > now:
                findings.append(Finding(CRITICAL, f"VOMS AC for {vo} is not valid yet"))
            if fqan and fqan not in ac.fqans:
                findings.append(Finding(CRITICAL, f"FQAN {fqan} missing from the {vo} AC "
                                                  f"(has: {', '.join(ac.fqans) or 'none'})"))
    return ProxyVerdict(str(path), info, ac, left, ac_left, tuple(findings))


def summary(verdict: ProxyVerdict) -> str:
    """One line for an OK proxy (problems speak for themselves)."""
    assert verdict.info is not None and verdict.proxy_left is not None
    text = f"proxy {verdict.path} of {verdict.info.identity} valid {hours(verdict.proxy_left)}"
    if verdict.ac is not None and verdict.ac_left is not None:
        text += (f"; VO {verdict.ac.vo} ({', '.join(verdict.ac.fqans)}) valid "
                 f"{hours(verdict.ac_left)}")
    return text


class _Proxy(nagiosplugin.Resource):  # type: ignore[misc]
    """The verdict as metrics: how many findings, and the seconds left."""

    def __init__(self, verdict: ProxyVerdict) -> None:
        self.verdict = verdict

    def probe(self) -> list[nagiosplugin.Metric]:
        v = self.verdict
        metrics = [nagiosplugin.Metric("findings", len(v.findings), context="found")]
        if v.proxy_left is not None:
            metrics.append(nagiosplugin.Metric("proxy_time_left", int(v.proxy_left), "s",
                                               context="left"))
        if v.ac_left is not None:
            metrics.append(nagiosplugin.Metric("ac_time_left", int(v.ac_left), "s",
                                               context="left"))
        return metrics


class _Findings(nagiosplugin.Context):  # type: ignore[misc]
    """The worst findings decide."""

    def __init__(self, verdict: ProxyVerdict) -> None:
        super().__init__("found")
        self.verdict = verdict

    def evaluate(self, metric: Any, resource: Any) -> nagiosplugin.Result:
        findings = self.verdict.findings
        if not findings:
            return nagiosplugin.Result(Ok, "", metric)
        # Evidence first: an expired proxy is CRITICAL even when the CA bundle is unusable.
        worst = max((f.state for f in findings), key=lambda st: (st == CRITICAL, st))
        hints = [f.message for f in findings if f.state == worst]
        return nagiosplugin.Result(_STATES[worst], "; ".join(hints), metric)


class _Left(nagiosplugin.ScalarContext):  # type: ignore[misc]
    """Time left against -w/-c, said in hours an operator reads at a glance."""

    def evaluate(self, metric: Any, resource: Any) -> nagiosplugin.Result:
        what = "proxy" if metric.name == "proxy_time_left" else "VOMS AC"
        left = hours(metric.value)
        for state, rng, label in ((Critical, self.critical, "critical"),
                                  (Warn, self.warning, "warning")):
            if not rng.match(metric.value):
                return nagiosplugin.Result(state, f"{what} has {left} left ({label} "
                                                  f"range {rng})", metric)
        return nagiosplugin.Result(Ok, f"{what} has {left} left", metric)


class _Summary(nagiosplugin.Summary):  # type: ignore[misc]
    """The OK line names the proxy; a problem line its worst findings; a note is added."""

    def __init__(self, verdict: ProxyVerdict, note: str) -> None:
        self.verdict, self.note = verdict, f" ({note})" if note else ""

    def ok(self, results: Any) -> str:
        return summary(self.verdict) + self.note

    def problem(self, results: Any) -> str:
        hints = [str(r.hint) for r in results.most_significant if r.hint]
        return "; ".join(hints) + self.note


def render(verdict: ProxyVerdict, warning: str | None, critical: str | None, verbose: int,
           note: str = "") -> tuple[str, int]:
    """The plugin's output (status line, perfdata; under -v the proxy's details) and state."""
    check = nagiosplugin.Check(_Proxy(verdict), _Findings(verdict),
                               _Left("left", warning, critical), _Summary(verdict, note))
    lines: list[str] = []
    if verbose and verdict.info is not None:
        info = verdict.info
        lines = [f"subject  {info.subject}", f"identity {info.identity}",
                 f"type     {info.proxy_type}, {info.key_bits} bits",
                 f"valid    {info.not_before:%Y-%m-%d %H:%M} to "
                 f"{info.not_after:%Y-%m-%d %H:%M} UTC"] + \
            [f"VO {a.vo}: {', '.join(a.fqans)} (issuer {a.issuer}, until "
             f"{a.not_after:%Y-%m-%d %H:%M} UTC)" for a in info.acs]
    text, code = evaluate(check, NAME, lines)
    return cap(text), code
