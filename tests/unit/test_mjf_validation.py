"""MJF validation as a table: each row a set of values and what must (not) be found."""

from __future__ import annotations

import pytest

from probes.guest.mjf import validate

NOW = 1_800_000_000
GOOD_M = {"total_cpu": "4", "hs06": "40.5", "shutdowntime": str(NOW + 3600),
          "grace_secs": "600"}
GOOD_J = {"allocated_cpu": "2", "jobstart_secs": str(NOW - 60), "wall_limit_secs": "86400",
          "job_id": "vm-1", "shutdowntime_job": str(NOW + 1800)}
REQ = ("total_cpu", "allocated_cpu", "jobstart_secs", "wall_limit_secs")


@pytest.mark.parametrize("machine,job,severity,needle", [
    ({}, {}, "error", "required key total_cpu is missing"),
    ({"total_cpu": "four"}, {}, "error", "is not a plain decimal integer"),
    ({"total_cpu": "4.0"}, {}, "error", "is not a plain decimal integer"),
    ({"total_cpu": "0"}, {}, "error", "total_cpu=0 must be >= 1"),
    ({"hs06": "0"}, {}, "error", "hs06=0 must be > 0"),
    ({"hs06": "-3"}, {}, "error", "is not a decimal number"),
    ({"total_cpu": "2"}, {"allocated_cpu": "4"}, "error", "allocated_cpu 4 > total_cpu 2"),
    ({}, {"jobstart_secs": str(NOW + 3600)}, "error", "s in the future"),
    ({"shutdowntime": str(NOW - 120)}, {"jobstart_secs": str(NOW - 60)}, "error",
     "shutdowntime is not after jobstart_secs"),
    ({"shutdowntime": str(NOW - 10)}, {"jobstart_secs": str(NOW - 60)}, "warning",
     "shutdowntime is already 10 s in the past"),
    ({}, {"job_id": ""}, "error", "job_id is empty"),
    ({}, {"max_rss_bytes": "-1"}, "error", "is not a plain decimal integer"),
])
def test_findings(machine: dict[str, str], job: dict[str, str], severity: str,
                  needle: str) -> None:
    m, j = {**GOOD_M, **machine}, {**GOOD_J, **job}
    if not machine and not job:
        m, j = {}, {}
    findings = validate(m, j, NOW, REQ)
    assert any(f.severity == severity and needle in f.message for f in findings), findings


def test_good_values_have_no_findings() -> None:
    assert validate(GOOD_M, GOOD_J, NOW, REQ) == []


def test_small_clock_skew_is_tolerated() -> None:
    assert validate(GOOD_M, {**GOOD_J, "jobstart_secs": str(NOW + 100)}, NOW, REQ) == []


def test_required_keys_come_from_the_site() -> None:
    assert validate({"total_cpu": "1"}, {}, NOW, ()) == []
    assert [f.key for f in validate({"total_cpu": "1"}, {}, NOW, ("hs06",))] == ["hs06"]
