"""Rendering a plugin made of timed steps (`fedprobe keystone`, `fedprobe api`) the Nagios way:
each step's state decided by the plugin, its seconds as perfdata, the worst step in the status
line, every step under -v."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import nagiosplugin
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from probes.checks.nagios import cap, evaluate
from probes.state import CRITICAL, NAMES, OK, UNKNOWN, WARNING

__all__ = ["CRITICAL", "OK", "UNKNOWN", "WARNING", "Step", "render"]


@dataclass(frozen=True)
class Step:
    name: str
    state: int
    detail: str
    seconds: float | None = None


_STATES = [Ok, Warn, Critical, Unknown]


class _Steps(nagiosplugin.Resource):  # type: ignore[misc]
    """One metric per step (its seconds) and the total."""

    def __init__(self, steps: list[Step]) -> None:
        self.steps = steps

    def probe(self) -> list[nagiosplugin.Metric]:
        metrics = [nagiosplugin.Metric(s.name, round(s.seconds or 0.0, 3), "s", min=0,
                                       context="step") for s in self.steps]
        total = sum(s.seconds or 0.0 for s in self.steps)
        return [*metrics, nagiosplugin.Metric("total", round(total, 3), "s", min=0,
                                              context="total")]


class _StepContext(nagiosplugin.Context):  # type: ignore[misc]
    """A step's state is the plugin's decision; untimed steps have no perfdata."""

    def __init__(self, steps: list[Step]) -> None:
        super().__init__("step")
        self.by_name = {s.name: s for s in steps}

    def evaluate(self, metric: Any, resource: Any) -> nagiosplugin.Result:
        step = self.by_name[metric.name]
        return nagiosplugin.Result(_STATES[step.state], f"{step.name}: {step.detail}", metric)

    def performance(self, metric: Any, resource: Any) -> nagiosplugin.Performance | None:
        if self.by_name[metric.name].seconds is None:
            return None
        return nagiosplugin.Performance(metric.name, metric.value, "s", None, None, 0)


class _Summary(nagiosplugin.Summary):  # type: ignore[misc]
    """The check's own line when all is OK; else the worst steps' details."""

    def __init__(self, ok_summary: str) -> None:
        self.ok_summary = ok_summary

    def ok(self, results: Any) -> str:
        return self.ok_summary

    def problem(self, results: Any) -> str:
        return "; ".join(str(r.hint) for r in results.most_significant)[:1000]


def render(plugin: str, steps: list[Step], ok_summary: str, verbose: int,
           total_warn: str | None = None, total_crit: str | None = None) -> tuple[str, int]:
    """Status line with perfdata (and long output under -v); the exit code."""
    check = nagiosplugin.Check(_Steps(steps), _StepContext(steps),
                               nagiosplugin.ScalarContext("total", total_warn, total_crit),
                               _Summary(ok_summary))
    lines = [f"{s.name:<18} {NAMES[s.state]:<8} "
             f"{'' if s.seconds is None else f'{s.seconds:7.3f}s'} {s.detail}" for s in steps]
    text, code = evaluate(check, plugin, lines if verbose else ())
    return cap(text), code
