"""The one verdict line and the exit status: 0 ready, 1 ready with warnings, 2 not ready,
3 could not test (a blocking check could not run, none failed). A FAIL of a recommended check
is a warning; NOT CHECKED counts for nothing and is named in the verdict."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from probes.selftest.model import Result, Status
from probes.selftest.profiles import Profile

READY, WARNINGS, NOT_READY, COULD_NOT_TEST = 0, 1, 2, 3


@dataclass(frozen=True)
class Verdict:
    code: int
    line: str
    blocking_failures: tuple[str, ...]
    blocking_not_run: tuple[str, ...]
    warnings: tuple[str, ...]
    not_checked: tuple[str, ...]


def decide(site: str, profile: Profile, results: Sequence[Result]) -> Verdict:
    def where(level: str, *statuses: Status) -> tuple[str, ...]:
        return tuple(r.check for r in results
                     if r.status in statuses and profile.level(r.check) == level)

    failures = where("blocking", Status.FAIL)
    not_run = where("blocking", Status.COULD_NOT_RUN)
    warnings = tuple(r.check for r in results
                     if r.status == Status.WARN
                     or (r.status in (Status.FAIL, Status.COULD_NOT_RUN)
                         and profile.level(r.check) != "blocking"))
    unchecked = tuple(r.check for r in results if r.status == Status.NOT_CHECKED)
    head = f"site {site}, {profile.label}: "
    tail = f" (not checked: {', '.join(unchecked)})" if unchecked else ""
    if failures:
        n = len(failures)
        code, text = NOT_READY, (f"NOT READY: {n} blocking failure{'s' * (n != 1)} "
                                 f"({', '.join(failures)})")
    elif not_run:
        code, text = COULD_NOT_TEST, (f"COULD NOT TEST: {len(not_run)} blocking check"
                                      f"{'s' * (len(not_run) != 1)} could not run "
                                      f"({', '.join(not_run)})")
    elif warnings:
        n = len(warnings)
        code, text = WARNINGS, f"READY TO JOIN with {n} warning{'s' * (n != 1)}"
    else:
        code, text = READY, "READY TO JOIN"
    return Verdict(code, head + text + tail, failures, not_run, warnings, unchecked)
