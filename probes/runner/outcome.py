"""What one run of any check comes to, the same for the plugins and the exporter: its state,
the plugin's whole output, and the typed facts metrics are made of (never parsed from text)."""

from __future__ import annotations

from dataclasses import dataclass

from probes.state import State


@dataclass(frozen=True)
class PhaseState:
    """One phase (VM) or step (fast checks) of a run."""

    name: str
    state: int               # Nagios state the phase earned (policy applied)
    passed: bool | None      # None: it did not run (skipped, unavailable, not reached)
    seconds: float | None    # None: it did not run, or is not timed
    finding: bool = False    # it ran and found something wrong, whatever the policy made of it

    @property
    def ran(self) -> bool:
        """It ran: its state, success and seconds are evidence (else none is exported)."""
        return self.passed is not None


@dataclass(frozen=True)
class CheckOutcome:
    """A finished run of one check at one site."""

    state: State
    text: str                                        # the plugin's output, every line
    phases: tuple[PhaseState, ...] = ()
    leaked: int = 0                                  # VMs this run left, or may have left
    reachable: tuple[tuple[str, bool], ...] = ()     # (ipv4|ipv6, answered)
    expiries: tuple[tuple[str, float], ...] = ()     # (proxy|voms_ac|token, Unix time)
    interrupted: bool = False                        # stopped by a signal or shutdown
    timed_out: bool = False                          # its deadline ran out
    config_error: bool = False                       # UNKNOWN: what configures it is wrong
    present: int | None = None                       # vm: this host's probe VMs left at the
                                                     # site (None: not looked)

    @property
    def status_line(self) -> str:
        """The plugin's first line without its perfdata."""
        lines = self.text.splitlines()
        return lines[0].split(" | ", 1)[0] if lines else ""
