"""Time left on a credential (proxy, VOMS AC, access token) against the plugin's -w/-c ranges,
and said in hours an operator reads at a glance."""

from __future__ import annotations

import nagiosplugin

from probes.state import CRITICAL, OK, WARNING, State


def hours(seconds: float) -> str:
    """12h05m (0h00m when negative)."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def judge_left(left: float, warning: nagiosplugin.Range,
               critical: nagiosplugin.Range) -> tuple[State, str]:
    """The state and, when not OK, which range it is outside: "(critical range 120:)"."""
    for state, rng, label in ((CRITICAL, critical, "critical"), (WARNING, warning, "warning")):
        if not rng.match(left):
            return state, f"({label} range {rng})"
    return OK, ""
