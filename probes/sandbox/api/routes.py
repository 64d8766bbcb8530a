"""A route: URL rule, handler, the service it belongs to and the operation name used by the
request log and fault injection."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from probes.sandbox.api.http import Ctx, Reply

Handler = Callable[..., Reply]


@dataclass(frozen=True)
class Route:
    rule: str
    methods: tuple[str, ...]
    handler: Handler
    service: str
    operation: str
    auth: bool = True

    @property
    def endpoint(self) -> str:
        """A unique name for werkzeug's URL map."""
        return f"{self.service}:{self.operation}:{self.rule}:{','.join(self.methods)}"


def route(rule: str, methods: str, service: str, operation: str, *,
          auth: bool = True) -> Callable[[Handler], Route]:
    """Decorator turning a handler function into a Route."""

    def wrap(fn: Callable[..., Reply]) -> Route:
        return Route(rule, tuple(methods.split(",")), fn, service, operation, auth)

    return wrap


def collect(namespace: dict[str, Any]) -> list[Route]:
    """All Route objects defined in a module namespace, in definition order."""
    return [v for v in namespace.values() if isinstance(v, Route)]


__all__ = ["Ctx", "Handler", "Reply", "Route", "collect", "route"]
