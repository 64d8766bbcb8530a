"""The terminal output: one line per check as it finishes (on a terminal, a transient
"running ..." line first), then the remediations, the totals and the verdict."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from probes.selftest.model import Result, Status
from probes.selftest.profiles import Profile
from probes.selftest.verdict import Verdict

_TAG = {Status.PASS: "[PASS]", Status.WARN: "[WARN]", Status.FAIL: "[FAIL]",
        Status.COULD_NOT_RUN: "[N/A ]", Status.NOT_CHECKED: "[----]"}


class Live:
    """Lines as checks finish; on a TTY a transient progress line, overwritten."""

    def __init__(self, out: TextIO, profile: Profile) -> None:
        self.out, self.profile = out, profile
        self.tty = out.isatty()
        self._transient = False

    def progress(self, what: str) -> None:
        if self.tty:
            self.out.write(f"\r\033[K  ... {what}")
            self.out.flush()
            self._transient = True

    def result(self, r: Result) -> None:
        if self._transient:
            self.out.write("\r\033[K")
            self._transient = False
        mark = ""
        if r.status in (Status.WARN, Status.FAIL, Status.COULD_NOT_RUN):
            mark = {"blocking": " (blocks joining)", "recommended": " (recommended)",
                    "informational": " (for information)"}[self.profile.level(r.check)]
        self.out.write(f"{_TAG[r.status]} {r.check:<18} {r.evidence}{mark}\n")
        self.out.flush()


def summary(results: Sequence[Result], verdict: Verdict) -> str:
    """Remediations, totals, the verdict line."""
    lines = []
    fixes = [r for r in results if r.status in (Status.WARN, Status.FAIL)]
    if fixes:
        lines.append("== Remediations ==")
        lines += [f"{r.check}: {r.remediation}" for r in fixes]
    counts = {s: sum(r.status == s for r in results) for s in Status}
    lines.append("== Summary ==")
    lines.append(f"{counts[Status.PASS]} passed, {counts[Status.WARN]} warned, "
                 f"{counts[Status.FAIL]} failed, {counts[Status.COULD_NOT_RUN]} could not run, "
                 f"{counts[Status.NOT_CHECKED]} not checked by this version")
    lines.append(verdict.line)
    return "\n".join(lines) + "\n"
