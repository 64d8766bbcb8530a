"""The small interface every cloud driver offers the lifecycle runner: log in, discover,
create, watch, read the guest's report, delete, find its own servers by tags. The deadline comes
with every call; what a driver cannot do it declares (CAPABILITIES), and the runner then says
the phase it affects was not checked — never that it passed."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from probes.deadline import Deadline

if TYPE_CHECKING:
    from probes.checks.steps import Step


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


class LoginRefused(DriverError):
    """Logging in failed or is misconfigured; the message is one line, no secret in it."""


# What a driver may declare it can do, and exactly what that means to the runner.
CAPABILITIES = {
    "console": "report() reads the server's console log, where the guest prints its report",
    "metadata": "the guest can read the server's metadata (metadata service or config drive)",
    "ipv6": "the cloud can give the server an IPv6 address",
    "tags": "create() stores the tags on the server and list_own() filters on them",
    "report_channel": "the guest may post its report home: the cloud runs the user-data as "
                      "given and lets the guest connect out (probes/runner/inbox.py)",
    "api": "probe_api() makes the read-only calls the api check times (ApiProbe), after "
           "connect()",
}

# The tags every probe VM carries (list_own filters on them; a driver may name the server
# from them, as OpenStack's does).
TAG_HOST = "fedprobe.host"
TAG_MACHINE = "fedprobe.machine"
TAG_PROBE = "fedprobe.probe"
TAG_ROLE = "fedprobe.role"
TAG_RUN = "fedprobe.run"


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
class Identity:
    """Who the driver logged in as, and where the probe works."""

    method: str        # how the login worked, e.g. "password", "x509_mapped"
    scope_kind: str    # what the cloud calls the scope: "project", "tenant", "account"
    scope: str         # its id: where the servers are made
    user: str
    expires_at: str    # ISO 8601, when the credential the driver holds expires
    account: str       # a stable name of (endpoint, scope): the ledger keys runs on it


@dataclass(frozen=True)
class ServerSpec:
    image_id: str
    flavor_id: str
    network_id: str | None
    user_data: str                 # plain text: the driver encodes it as its API wants
    tags: dict[str, str]           # TAG_* and their values; the driver names the server


@dataclass(frozen=True)
class ServerStatus:
    state: ServerState
    raw: str
    fault: str = ""
    addresses: tuple[tuple[int, str], ...] = ()
    metadata: dict[str, str] = field(default_factory=dict)
    # The cloud's own clock (Unix seconds, whole seconds as clouds keep them): when the server
    # was made and when it became ACTIVE; None where the API does not say.
    created: float | None = None
    launched: float | None = None


@dataclass(frozen=True)
class OwnServer:
    """A server this monitoring host's probe made (found by sweep)."""

    id: str
    name: str
    created: float
    metadata: dict[str, str]


class CloudDriver(Protocol):
    """What the runner needs from a cloud. Every request is bounded by what is left of the
    deadline given with the call; a call whose deadline has passed (or was cancelled by a
    signal) raises DeadlineExceeded *without sending anything*; a request that was sent and
    then timed out is a DriverError (``maybe_done``). connect() comes first."""

    name: str
    capabilities: frozenset[str]  # keys of CAPABILITIES

    def connect(self, deadline: Deadline) -> Identity:
        """Log in and scope (LoginRefused with the reason)."""

    def discover(self, deadline: Deadline) -> Discovery:
        """Pick image, flavor and network for the probe VM (NotFound naming what is missing)."""

    def create(self, spec: ServerSpec, deadline: Deadline) -> str:
        """Ask for a server; return its id once the API accepted it."""

    def status(self, server_id: str, deadline: Deadline) -> ServerStatus:
        """The server's state (GONE when the API says 404)."""

    def report(self, server_id: str, deadline: Deadline) -> str | None:
        """The console log, where the guest prints its report (Forbidden when policy says
        no; None when there is none to read). Drivers without "console" are not asked."""

    def delete(self, server_id: str, deadline: Deadline) -> None:
        """Ask for deletion (a server already gone is fine)."""

    def list_own(self, tags: dict[str, str], deadline: Deadline) -> list[OwnServer]:
        """Servers carrying all these tags."""


@runtime_checkable
class ApiProbe(CloudDriver, Protocol):
    """A driver with the "api" capability: the api check's read-only calls, each a timed
    Step (CRITICAL with the reason when it fails), in the order they ran."""

    def probe_api(self, deadline: Deadline) -> list[Step]:
        """The calls' steps, connect() done."""
