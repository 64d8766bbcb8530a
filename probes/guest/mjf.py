"""Validating machine/job features (HSF-TN-2016-02) as the guest saw them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_INT = re.compile(r"^\d+$")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")
CLOCK_SKEW = 300

# key -> (type, minimum): "int" plain decimal, "num" decimal number, "str" any one line
KEYS: dict[str, tuple[str, float]] = {
    "total_cpu": ("int", 1), "hs06": ("num", 0), "shutdowntime": ("int", 0),
    "grace_secs": ("int", 0), "jobslots": ("int", 1), "phys_cores": ("int", 1),
    "log_cores": ("int", 1),
    "allocated_cpu": ("int", 1), "hs06_job": ("num", 0), "shutdowntime_job": ("int", 0),
    "grace_secs_job": ("int", 0), "jobstart_secs": ("int", 0), "job_id": ("str", 0),
    "wall_limit_secs": ("int", 0), "cpu_limit_secs": ("int", 0), "max_rss_bytes": ("int", 0),
    "max_swap_bytes": ("int", 0), "scratch_limit_bytes": ("int", 0),
}
_POSITIVE = frozenset({"hs06", "hs06_job"})


@dataclass(frozen=True)
class Finding:
    severity: str  # "error" or "warning"
    key: str
    message: str


def _typed(key: str, value: str) -> tuple[float | None, Finding | None]:
    kind, minimum = KEYS.get(key, ("str", 0))
    if kind == "str":
        return None, (None if value.strip() else Finding("error", key, f"{key} is empty"))
    if not (_INT if kind == "int" else _NUMBER).match(value):
        what = "a plain decimal integer" if kind == "int" else "a decimal number"
        return None, Finding("error", key, f"{key}={value!r} is not {what}")
    number = float(value)
    if key in _POSITIVE and number <= 0:
        return number, Finding("error", key, f"{key}={value} must be > 0")
    if number < minimum:
        return number, Finding("error", key, f"{key}={value} must be >= {int(minimum)}")
    return number, None


def validate(machine: dict[str, str], job: dict[str, str], now: float,
             required: tuple[str, ...]) -> list[Finding]:
    """Findings about types, ranges, consistency and required keys (empty when all is well)."""
    values = {**machine, **job}
    findings: list[Finding] = []
    numbers: dict[str, float] = {}
    for key, value in values.items():
        number, finding = _typed(key, value)
        if finding is not None:
            findings.append(finding)
        elif number is not None:
            numbers[key] = number
    findings += [Finding("error", key, f"required key {key} is missing")
                 for key in required if key not in values]
    total, allocated = numbers.get("total_cpu"), numbers.get("allocated_cpu")
    if total is not None and allocated is not None and allocated > total:
        findings.append(Finding("error", "allocated_cpu",
                                f"allocated_cpu {int(allocated)} > total_cpu {int(total)}"))
    start = numbers.get("jobstart_secs")
    if start is not None and start > now + CLOCK_SKEW:
        findings.append(Finding("error", "jobstart_secs",
                                f"jobstart_secs is {int(start - now)} s in the future"))
    for key in ("shutdowntime", "shutdowntime_job"):
        when = numbers.get(key)
        if when is None:
            continue
        if start is not None and when <= start:
            findings.append(Finding("error", key, f"{key} is not after jobstart_secs"))
        elif when < now:
            findings.append(Finding("warning", key,
                                    f"{key} is already {int(now - when)} s in the past"))
    return findings
