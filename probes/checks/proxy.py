"""Judging an X509/VOMS proxy for the `fedprobe proxy` plugin: what is wrong with it (each
finding with its state) and how long it and its AC have left. Reading is probes.x509's job;
rendering is nagiosplugin's."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from probes.credentials.proxy import (
    ProxyError,
    ProxyInfo,
    check_permissions,
    read_proxy,
    verify_chain,
)
from probes.credentials.voms_ac import VomsAC
from probes.state import CRITICAL, OK, UNKNOWN, WARNING

__all__ = ["CRITICAL", "OK", "UNKNOWN", "WARNING", "Finding", "ProxyVerdict", "judge_proxy"]


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


def hours(seconds: float) -> str:
    """12h05m (0h00m when negative)."""
    return _hours(seconds)


def _hours(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


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
        findings.append(Finding(CRITICAL, f"proxy expired {_hours(-left)} ago "
                                          f"({info.not_after:%Y-%m-%d %H:%M} UTC)"))
    if info.proxy_type == "not a proxy":
        findings.append(Finding(WARNING, f"{path} holds an end-entity certificate, not a proxy"))
    if cacert:
        try:
            verify_chain(path, cacert, now)
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
                                                  f"{_hours(-ac_left)} ago"))
            elif ac.not_before > now:
                findings.append(Finding(CRITICAL, f"VOMS AC for {vo} is not valid yet"))
            if fqan and fqan not in ac.fqans:
                findings.append(Finding(CRITICAL, f"FQAN {fqan} missing from the {vo} AC "
                                                  f"(has: {', '.join(ac.fqans) or 'none'})"))
    return ProxyVerdict(str(path), info, ac, left, ac_left, tuple(findings))


def summary(verdict: ProxyVerdict) -> str:
    """One line for an OK proxy (problems speak for themselves)."""
    assert verdict.info is not None and verdict.proxy_left is not None
    text = f"proxy {verdict.path} of {verdict.info.identity} valid {_hours(verdict.proxy_left)}"
    if verdict.ac is not None and verdict.ac_left is not None:
        text += (f"; VO {verdict.ac.vo} ({', '.join(verdict.ac.fqans)}) valid "
                 f"{_hours(verdict.ac_left)}")
    return text
