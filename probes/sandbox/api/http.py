"""What a handler gets and gives: the request context and the reply."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request

from probes.sandbox.api.errors import ApiError, service_error

if TYPE_CHECKING:
    from probes.sandbox.cloud import Cloud
    from probes.sandbox.identity import TokenRec


@dataclass
class Reply:
    """A handler's answer: status, body (JSON-able, text, or None) and headers."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Ctx:
    """One request as handlers see it."""

    request: Request
    cloud: Cloud
    token: TokenRec | None = None
    microversion: tuple[int, int] | None = None

    @property
    def base_url(self) -> str:
        """The sandbox's public base URL as the client addressed it (no trailing slash)."""
        return self.request.host_url.rstrip("/")

    def json_body(self) -> dict[str, Any]:
        """The request's JSON object body, or a 400 in the caller's style."""
        raw = self.request.get_data(cache=True)
        try:
            data = json.loads(raw or b"null")
        except ValueError:
            raise self._bad("Malformed request body") from None
        if not isinstance(data, dict):
            raise self._bad("The request body must be a JSON object")
        return data

    def _bad(self, message: str) -> ApiError:
        return service_error(service_of(self.request.path), 400, message)

    def query(self, name: str) -> str | None:
        """A single query parameter (last one wins, like the services)."""
        values = self.request.args.getlist(name)
        return values[-1] if values else None


def service_of(path: str) -> str:
    """Which service a path belongs to (for error styles and the request log)."""
    for prefix, service in (("/identity", "identity"), ("/compute", "compute"),
                            ("/image", "image"), ("/networking", "network"),
                            ("/oidc", "oidc")):
        if path.startswith(prefix):
            return service
    return "control"

