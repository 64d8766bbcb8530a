"""What one self-test check ends as: a status, one line of evidence, and for WARN/FAIL what to
do about it. Never PASS without evidence: a check whose evidence was not gathered is COULD NOT
RUN; one this version does not implement is NOT CHECKED, and says so."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any


class Status(Enum):
    PASS = "PASS"  # noqa: S105 (a status, not a password)
    WARN = "WARN"
    FAIL = "FAIL"
    COULD_NOT_RUN = "COULD NOT RUN"
    NOT_CHECKED = "NOT CHECKED"


@dataclass(frozen=True)
class Result:
    """One check's outcome at one site."""

    check: str                      # its id, e.g. "ipv6"
    title: str                      # what it checks, for a site admin
    status: Status
    evidence: str                   # one line: what was seen (or why nothing was)
    remediation: str = ""           # for WARN and FAIL: what to fix
    seconds: float | None = None
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.status in (Status.WARN, Status.FAIL) and not self.remediation:
            raise ValueError(f"{self.check}: a {self.status.value} needs a remediation")
        if not self.evidence:
            raise ValueError(f"{self.check}: no evidence line")
