"""The PromQL queries of a Grafana dashboard, and Grafana's variables expanded in them, so tests
can send each panel's query to a real Prometheus.

    for title, expr in queries():
        prom.query(expand(expr, site_regex="site-a"))
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

DASHBOARD = Path(__file__).resolve().parents[1] / "exporters/grafana/fedprobe-dashboard.json"

# $var, ${var}, ${var:format}, [[var]], [[var:format]]
_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800,
                 "y": 31536000}


class PanelQuery(NamedTuple):
    """One target's expression and the title of the panel it belongs to."""

    title: str
    expr: str


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of the dashboard, rows' nested panels included (rows themselves too)."""
    stack = list(reversed(dashboard.get("panels", [])))
    while stack:
        panel = stack.pop()
        yield panel
        stack.extend(reversed(panel.get("panels", [])))


def queries(dashboard_json_path: Path = DASHBOARD) -> list[PanelQuery]:
    """(panel title, expr) for every target with an expression, in dashboard order."""
    dashboard = json.loads(Path(dashboard_json_path).read_text())
    return [PanelQuery(panel.get("title", ""), target["expr"])
            for panel in panels(dashboard) for target in panel.get("targets", [])
            if target.get("expr")]


def seconds(duration: str) -> float:
    """A Prometheus/Grafana duration ("90s", "1h30m", "500ms") in seconds; ValueError if not."""
    parts = _DURATION.findall(duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a duration: {duration!r}")
    return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


def _duration(value: float) -> str:
    """Seconds as the shortest exact Prometheus duration ("60s", "1500ms")."""
    if value == int(value):
        return f"{int(value)}s"
    return f"{round(value * 1000)}ms"


def expand(expr: str, site_regex: str = ".*", range: str = "1h", interval: str = "15s", *,
           check_regex: str = ".*", scrape_interval: str = "15s",
           variables: Mapping[str, str] | None = None) -> str:
    """The expression with Grafana's variables replaced as Grafana would for a Prometheus query:
    $site and $check by the regexes (what a multi-value or All selection becomes), $__range,
    $__interval and $__rate_interval (max($__interval + scrape interval, 4 * scrape interval)),
    their _s/_ms forms, and any others given in `variables`. KeyError on a variable it does not
    know, so a typo in a dashboard fails a test instead of reaching Prometheus."""
    range_s, interval_s, scrape_s = seconds(range), seconds(interval), seconds(scrape_interval)
    rate_s = max(interval_s + scrape_s, 4 * scrape_s)
    values = {
        "site": site_regex, "check": check_regex, "datasource": "prometheus",
        "__range": _duration(range_s), "__range_s": _number(range_s),
        "__range_ms": _number(range_s * 1000),
        "__interval": _duration(interval_s), "__interval_ms": _number(interval_s * 1000),
        "__rate_interval": _duration(rate_s), "__rate_interval_ms": _number(rate_s * 1000),
    }
    values.update(variables or {})

    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g is not None)
        if name not in values:
            raise KeyError(f"{expr}: no value for the dashboard variable ${name}")
        return values[name]

    return _VARIABLE.sub(value, expr)
