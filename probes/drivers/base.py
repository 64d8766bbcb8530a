"""The small interface every cloud driver offers the lifecycle runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from probes.deadline import Deadline


class DriverError(Exception):
    """A cloud API call failed; the message is one line an operator can act on.
    ``transient``: repeating the call may work (5xx, 429, a timeout, a dropped connection).
    ``maybe_done``: the cloud may have carried it out although no answer said so (a timeout, a
    dropped connection, a 500/502/504) — unlike a refusal (4xx) or a 503/429."""

    def __init__(self, message: str, transient: bool = False,
                 maybe_done: bool = False) -> None:
        super().__init__(message)
        self.transient = transient
        self.maybe_done = maybe_done


class NotFound(DriverError):
    """The thing asked for does not exist (image, flavor, network, server); ``available``
    says what the cloud offered instead (shown with -v)."""

    def __init__(self, message: str, available: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__(message)
        self.available = tuple(available)


class Forbidden(DriverError):
    """The cloud's policy does not allow the call (e.g. console output)."""


class ServerState(Enum):
    """The few states the runner cares about, whatever the cloud calls them."""

    BUILDING = "building"
    ACTIVE = "active"
    ERROR = "error"
    DELETING = "deleting"
    GONE = "gone"


@dataclass(frozen=True)
class Choice:
    """What discovery picked, and what else there was (for -v output)."""

    id: str
    name: str
    detail: str = ""
    available: tuple[str, ...] = ()


@dataclass(frozen=True)
class Discovery:
    image: Choice
    flavor: Choice
    network: Choice | None  # None: let the cloud choose ("auto")


@dataclass(frozen=True)
class ServerSpec:
    name: str
    image_id: str
    flavor_id: str
    network_id: str | None
    user_data: str
    metadata: dict[str, str]


@dataclass(frozen=True)
class ServerStatus:
    state: ServerState
    raw: str
    fault: str = ""
    addresses: tuple[tuple[int, str], ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OwnServer:
    """A server this monitoring host's probe made (found by sweep)."""

    id: str
    name: str
    created: float
    metadata: dict[str, str]


class CloudDriver(Protocol):
    """What the runner needs from a cloud. A call whose deadline has passed (or was cancelled
    by a signal) raises DeadlineExceeded *without sending anything*; a request that was sent
    and then timed out is a DriverError (``maybe_done``)."""

    name: str
    deadline: Deadline  # every request is bounded by what is left of it

    def discover(self, project_id: str) -> Discovery:
        """Pick image, flavor and network for the probe VM (NotFound naming what is missing)."""

    def create(self, spec: ServerSpec) -> str:
        """Ask for a server; return its id once the API accepted it."""

    def status(self, server_id: str) -> ServerStatus:
        """The server's state (GONE when the API says 404)."""

    def console(self, server_id: str) -> str:
        """The console log (Forbidden when policy says no)."""

    def delete(self, server_id: str) -> None:
        """Ask for deletion (a server already gone is fine)."""

    def list_own(self, metadata: dict[str, str]) -> list[OwnServer]:
        """Servers carrying all these metadata key/values."""
