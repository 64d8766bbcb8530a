"""The typed, immutable result of one VM lifecycle run. The runner fills it; checks judge it;
renderers print it. A phase never prints."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from types import MappingProxyType
from typing import Any

PLUGIN_NAME = "FEDCLOUD_VM"
PHASES = ("auth", "discover", "sweep", "create", "boot", "reach_v4", "reach_v6", "context",
          "mjf", "delete", "gone")


class Outcome(Enum):
    """What happened in a phase (how bad it is, is the checks' decision)."""

    PASSED = "passed"
    FAILED = "failed"
    WARNED = "warned"          # worked, with findings worth a WARNING
    SKIPPED = "skipped"        # could not run because an earlier phase failed, or nothing to do
    UNAVAILABLE = "unavailable"  # the cloud does not let us look (e.g. console API forbidden)


@dataclass(frozen=True)
class Phase:
    name: str
    outcome: Outcome
    detail: str
    duration: float | None = None
    data: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class LifecycleResult:
    site: str
    driver: str
    run_id: str
    phases: tuple[Phase, ...]
    total: float
    server_id: str | None = None
    leaked_server_id: str | None = None
    interrupted: str | None = None
    uncertain: str | None = None   # what may be left when nothing proves either way
    present: int | None = None     # this host's probe VMs at the site after the run (None:
                                   # not looked)

    @property
    def maybe_leaked(self) -> bool:
        """Whether a VM is, or may be, left behind."""
        return bool(self.leaked_server_id or self.uncertain)

    def phase(self, name: str) -> Phase:
        """The phase of that name (every phase is present, possibly SKIPPED)."""
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form (``--json``)."""
        return {"site": self.site, "driver": self.driver, "run_id": self.run_id,
                "total_seconds": round(self.total, 3), "server_id": self.server_id,
                "leaked_server_id": self.leaked_server_id, "interrupted": self.interrupted,
                "uncertain": self.uncertain, "present": self.present,
                "phases": [{"name": p.name, "outcome": p.outcome.value, "detail": p.detail,
                            "seconds": None if p.duration is None else round(p.duration, 3),
                            "data": dict(p.data)} for p in self.phases]}
