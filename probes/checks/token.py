"""Judging an OIDC access token for `fedprobe token` and the exporter: its time left against
the ranges, or why it could not be read; said as the plugin's one line with perfdata."""

from __future__ import annotations

from pathlib import Path

import nagiosplugin

from probes.checks.nagios import cap, screen
from probes.checks.timeleft import hours, judge_left
from probes.state import CRITICAL, State

NAME = "OIDC_TOKEN"


def render(path: Path, left: float | None, problem: str, warning: str, critical: str,
           note: str = "") -> tuple[str, State]:
    """(the plugin's output line, state) for a token with `left` seconds, or unreadable
    (`left` None, `problem` says why); `note` is added to the text (a refresh)."""
    if left is None:
        return cap(f"{NAME} CRITICAL - {screen(problem + note)}\n"), CRITICAL
    perf = f"time_left={int(left)}s;{warning};{critical};"
    if left <= 0:
        state, text = CRITICAL, f"access token expired {hours(-left)} ago"
    else:
        state, why = judge_left(left, nagiosplugin.Range(warning), nagiosplugin.Range(critical))
        text = (f"access token has {hours(left)} left {why}" if why
                else f"access token {path} valid {hours(left)}")
    return cap(f"{NAME} {state.name} - {screen(text + note)} | {perf}\n"), state
