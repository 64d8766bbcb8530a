"""Everything that keeps a run's VM from outliving the run, in one object the runner is given:
who tags it (the identity), where the ledger and the run locks live (the state directory), and
how the run's guardian is started (docs/cleanup.md)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from probes.runner import statedir
from probes.runner.guardian import Guardian
from probes.runner.identity import Identity, default_host, machine_id


class GuardianLike(Protocol):
    def tell(self, **msg: Any) -> None:
        """Send the guardian one message."""

    def finish(self, lost: bool = False) -> None:
        """The run cleaned up (or gave up on a lost create answer)."""


Spawn = Callable[[dict[str, Any], Path, int], GuardianLike]


@dataclass(frozen=True)
class Custody:
    identity: Identity
    state_dir: Path
    spawn: Spawn = field(default=Guardian.start)  # a thread in tests of the in-memory cloud


def make(role: str, host: str | None, state_dir: Path | None,
         environ: Mapping[str, str]) -> Custody:
    """The custody of this process's runs: the state directory made ready, the machine id read
    or made. StateDirError (one line naming the path) when that cannot be done."""
    where = statedir.prepare(state_dir or statedir.default(environ))
    return Custody(Identity(host or default_host(), machine_id(where), role), where)
