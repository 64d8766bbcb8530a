"""The series docs/exporter-metrics.md promises, and the fedprobe series a PromQL expression
names: so rules and dashboards can be checked against the documented contract."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs/exporter-metrics.md"

# A table row: | `fedprobe_name` | type | meaning |
_ROW = re.compile(r"^\|\s*`((?:fedprobe|process)_\w+)`\s*\|\s*(\w+)\s*\|", re.MULTILINE)
# A series name (not a recording rule's fedprobe:... nor part of a longer identifier).
_NAME = re.compile(r"(?<![\w:])fedprobe_\w+")


def documented_metrics(doc: Path = DOC) -> dict[str, str]:
    """Metric name -> type (gauge, counter, histogram) for every row of the doc's tables."""
    return {name: kind for name, kind in _ROW.findall(doc.read_text())}


def documented_series(doc: Path = DOC) -> set[str]:
    """Every series name the exporter serves: histograms as their _bucket, _sum and _count."""
    names: set[str] = set()
    for name, kind in documented_metrics(doc).items():
        if kind == "histogram":
            names.update(f"{name}{suffix}" for suffix in ("_bucket", "_sum", "_count"))
        else:
            names.add(name)
    return names


def series_in(expr: str) -> set[str]:
    """The fedprobe_* series names an expression selects."""
    return set(_NAME.findall(expr))
