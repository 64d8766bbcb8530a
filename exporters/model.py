"""What one check run left behind, as the exporter keeps it: typed, immutable, with bounded
labels only (no VM id or run id reaches a metric; the debug log may name them)."""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from probes.runner.outcome import PhaseState
from probes.state import CRITICAL, OK, UNKNOWN, WARNING
from probes.state import NAMES as STATE_NAMES

__all__ = ["CRITICAL", "OK", "STATE_NAMES", "UNKNOWN", "WARNING", "CheckRun", "KeptRun",
           "PhaseRun", "failure_reason"]


PhaseRun = PhaseState  # one phase (VM) or step (fast checks) of a run, as the checks give it


@dataclass(frozen=True)
class CheckRun:
    """The result of one run of one check at one site."""

    site: str
    driver: str
    check: str
    state: int
    summary: str                      # the one line an operator reads
    started: float                    # Unix time
    duration: float                   # seconds
    phases: tuple[PhaseRun, ...] = ()
    reason: str = ""                  # why it failed ("" when it succeeded)
    leaked: int = 0                   # VMs this run left, or may have left
    reachable: tuple[tuple[str, bool], ...] = ()     # (ipv4|ipv6, answered)
    expiries: tuple[tuple[str, float], ...] = ()     # (proxy|voms_ac|token, Unix time)
    # the run's debug log (the plugin's whole output), one string: 1000 sites keep 10 runs each
    log: str = field(default="", compare=False)
    present: int | None = None        # vm: this host's probe VMs left at the site (None: the
                                      # run could not look)

    @property
    def success(self) -> bool:
        """It worked (OK or WARNING: perhaps with findings)."""
        return self.state in (OK, WARNING)

    @property
    def finished(self) -> float:
        """Unix time the run ended."""
        return self.started + self.duration

    def phase(self, name: str) -> PhaseRun | None:
        """The phase of that name, if the run has it."""
        return next((p for p in self.phases if p.name == name), None)


@dataclass(frozen=True)
class KeptRun:
    """A run as the history keeps it (1000 sites keep 10 each): what /logs shows, the debug log
    zlib-compressed (a VM run's is a few kB of text that compresses 3-5 times)."""

    state: int
    summary: str
    started: float
    duration: float
    packed: bytes = field(repr=False)

    @classmethod
    def of(cls, run: CheckRun) -> KeptRun:
        """Keep this run."""
        return cls(run.state, run.summary, run.started, run.duration,
                   zlib.compress(run.log.encode(), 6))

    @property
    def log(self) -> str:
        """The run's debug log."""
        return zlib.decompress(self.packed).decode()

    @property
    def finished(self) -> float:
        """Unix time the run ended."""
        return self.started + self.duration


def failure_reason(phases: tuple[PhaseRun, ...], state: int) -> str:
    """The first phase holding the run's (bad) state: what an operator looks at first."""
    if state in (OK, WARNING):
        return ""
    return next((p.name for p in phases if p.state == state), "internal")
