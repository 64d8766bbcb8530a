"""Rendering a plugin made of timed steps (`fedprobe keystone`, `fedprobe api`) the Nagios way:
each step's state decided by the plugin, its seconds as perfdata, the worst step in the status
line, every step under -v."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from probes.state import CRITICAL, NAMES, OK, UNKNOWN, WARNING

__all__ = ["CRITICAL", "OK", "UNKNOWN", "WARNING", "Step", "render"]


@dataclass(frozen=True)
class Step:
    name: str
    state: int
    detail: str
    seconds: float | None = None


def render(plugin: str, steps: list[Step], ok_summary: str, verbose: int,
           total_warn: str | None = None, total_crit: str | None = None) -> tuple[str, int]:
    """Status line with perfdata (and long output under -v); the exit code."""
    import nagiosplugin
    from nagiosplugin.state import Critical, Ok, Unknown, Warn

    from probes.checks.nagios import evaluate

    states = [Ok, Warn, Critical, Unknown]
    by_name = {s.name: s for s in steps}
    total = sum(s.seconds or 0.0 for s in steps)

    class Resource(nagiosplugin.Resource):  # type: ignore[misc]
        def probe(self) -> list[nagiosplugin.Metric]:
            metrics = [nagiosplugin.Metric(s.name, round(s.seconds or 0.0, 3), "s", min=0,
                                           context="step") for s in steps]
            return [*metrics, nagiosplugin.Metric("total", round(total, 3), "s", min=0,
                                                  context="total")]

    class StepContext(nagiosplugin.Context):  # type: ignore[misc]
        def evaluate(self, metric: Any, resource: Any) -> nagiosplugin.Result:
            step = by_name[metric.name]
            return nagiosplugin.Result(states[step.state], f"{step.name}: {step.detail}",
                                       metric)

        def performance(self, metric: Any, resource: Any) -> nagiosplugin.Performance | None:
            if by_name[metric.name].seconds is None:
                return None
            return nagiosplugin.Performance(metric.name, metric.value, "s", None, None, 0)

    class Summary(nagiosplugin.Summary):  # type: ignore[misc]
        def ok(self, results: Any) -> str:
            return ok_summary

        def problem(self, results: Any) -> str:
            return "; ".join(str(r.hint) for r in results.most_significant)[:1000]

    check = nagiosplugin.Check(Resource(), StepContext("step"),
                               nagiosplugin.ScalarContext("total", total_warn, total_crit),
                               Summary())
    text, code = evaluate(check, plugin)
    if verbose:
        text += "".join(f"{s.name:<18} {NAMES[s.state]:<8} "
                        f"{'' if s.seconds is None else f'{s.seconds:7.3f}s'} {s.detail}\n"
                        for s in steps)
    return text[:4096], code
