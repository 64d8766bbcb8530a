"""Fault injection: what the sandbox should get wrong, and the decisions drawn from it.

Faults come from the config file (`faults:`) and can be replaced at run time through the control
API. Operation names are the API operations of the request log (``auth``, ``create``, ``show``,
``list``, ``delete``, ``console``, ...) plus the lifecycle steps ``boot`` (BUILD -> ACTIVE) and
``gone`` (delete accepted -> 404).

Where latency falls: for the state-changing operations ``create`` and ``delete`` it is slept
AFTER the handler has committed the change — the server exists (or is being deleted) at once and
only the answer is late, the lost answer of a client or load balancer that gave up waiting. For
every other operation it is slept BEFORE the handler (the cloud is slow to act). Injected
``errors`` are always decided before the handler: a 5xx means nothing was done (its answer is
delayed by the operation's latency all the same).
"""

from __future__ import annotations

import random
import threading
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

OPERATIONS = frozenset({
    "versions", "auth", "validate", "projects", "catalog",
    "create", "show", "list", "update", "delete", "console", "action", "metadata", "tags",
    "flavors", "limits", "images", "networks", "subnets",
    "boot", "gone", "oidc",
})

# Operations whose latency comes after the handler (see the module docstring).
LATE_ANSWER_OPERATIONS = frozenset({"create", "delete"})


def _check_ops(value: dict[str, object]) -> dict[str, object]:
    unknown = sorted(set(value) - OPERATIONS)
    if unknown:
        known = ", ".join(sorted(OPERATIONS))
        raise ValueError(f"unknown operation {unknown[0]!r}; known: {known}")
    return value


class ErrorFault(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    rate: float = Field(1.0, ge=0.0, le=1.0)
    status: Literal[500, 502, 503, 504] = 503


class Faults(BaseModel):
    """Everything that can be made to go wrong. The defaults are a healthy cloud.

    ``latency`` delays an operation's answer: before the handler runs, except for ``create``
    and ``delete`` (LATE_ANSWER_OPERATIONS), whose change is made at once and whose answer
    comes late. ``errors`` are decided before the handler (nothing is done).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    latency: dict[str, float] = Field(default_factory=dict)
    errors: dict[str, ErrorFault] = Field(default_factory=dict)
    stuck_build: bool = False
    boot_error: str | None = None
    delete_fails: bool = False
    delete_never_completes: bool = False
    console_forbidden: bool = False
    quota_exceeded: Literal[None, 403, 413] = None
    token_valid_for: float | None = Field(None, gt=0)
    userdata_not_run: bool = False
    guest_never_boots: bool = False  # BUILD until guests.boot_timeout, then ERROR
    # POST /servers is answered 504 at once while the server is made this many seconds later:
    # a proxy that gave up while Nova went on (the server shows only after the client gave up)
    create_after_504: float | None = Field(None, ge=0)
    # The site's clock runs this many seconds ahead (negative: behind): every answer's Date
    # header says so (what a client can see of a site's clock)
    clock_skew: float = 0.0

    @field_validator("latency")
    @classmethod
    def _latency(cls, value: dict[str, float]) -> dict[str, float]:
        _check_ops(dict(value))
        for op, seconds in value.items():
            if seconds < 0:
                raise ValueError(f"latency for {op!r} must be >= 0")
        return value

    @field_validator("errors")
    @classmethod
    def _errors(cls, value: dict[str, ErrorFault]) -> dict[str, ErrorFault]:
        _check_ops(dict(value))
        return value


class FaultInjector:
    """Holds the current faults (replaceable at run time) and draws error decisions."""

    def __init__(self, faults: Faults, seed: int | None = None) -> None:
        self._faults = faults
        self._random = random.Random(seed)  # noqa: S311 - fault sampling, not security
        self._lock = threading.Lock()

    @property
    def faults(self) -> Faults:
        """The faults in force now."""
        return self._faults

    def replace(self, faults: Faults) -> None:
        """Put new faults in force (control API)."""
        self._faults = faults

    def latency(self, operation: str) -> float:
        """Seconds of extra latency for an operation."""
        return self._faults.latency.get(operation, 0.0)

    def error_status(self, operation: str) -> int | None:
        """An HTTP status to fail this operation with, or None."""
        fault = self._faults.errors.get(operation)
        if fault is None or fault.rate <= 0.0:
            return None
        with self._lock:
            hit = self._random.random() < fault.rate
        return fault.status if hit else None
