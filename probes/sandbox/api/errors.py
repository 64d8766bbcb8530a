"""Errors in each service's own body shape, raised by handlers and rendered by the app."""

from __future__ import annotations

from typing import Any

_TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed", 406: "Not Acceptable", 409: "Conflict",
           413: "Request Entity Too Large", 500: "Internal Server Error", 502: "Bad Gateway",
           503: "Service Unavailable", 504: "Gateway Timeout"}

_NOVA_KEYS = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
              406: "HTTPNotAcceptable", 409: "conflictingRequest", 413: "overLimit"}


class ApiError(Exception):
    """An HTTP error response: status, JSON (or text) body and extra headers."""

    def __init__(self, status: int, body: dict[str, Any] | str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = headers or {}


def title(status: int) -> str:
    """The reason phrase of a status code."""
    return _TITLES.get(status, "Error")


def keystone_error(status: int, message: str) -> ApiError:
    """Keystone's {"error": {code, title, message}}."""
    return ApiError(status, {"error": {"code": status, "title": title(status), "message": message}})


def nova_error(status: int, message: str, **extra: Any) -> ApiError:
    """Nova's {"<kind>": {code, message}} (kind from the status, computeFault for 5xx)."""
    key = _NOVA_KEYS.get(status, "computeFault")
    return ApiError(status, {key: {"code": status, "message": message, **extra}})


def neutron_error(status: int, kind: str, message: str) -> ApiError:
    """Neutron's {"NeutronError": {type, message, detail}}."""
    return ApiError(status, {"NeutronError": {"type": kind, "message": message, "detail": ""}})


def glance_error(status: int, message: str) -> ApiError:
    """Glance answers errors as a short text document."""
    return ApiError(status, f"{status} {title(status)}\n\n{message}\n\n   ")


def unauthorized(service: str, auth_url: str) -> ApiError:
    """401 for a missing/invalid token, with Keystone's WWW-Authenticate challenge."""
    headers = {"WWW-Authenticate": f'Keystone uri="{auth_url}"'}
    message = "The request you have made requires authentication."
    if service == "identity":
        err = keystone_error(401, message)
    elif service == "compute":
        err = nova_error(401, message)
    elif service == "network":
        err = neutron_error(401, "Unauthorized", message)
    else:
        err = glance_error(401, "This server could not verify that you are authorized to access "
                                "the document you requested.")
    err.headers.update(headers)
    return err


def service_error(service: str, status: int, message: str) -> ApiError:
    """A generic error (injected faults, 404 routes) in the given service's style."""
    if service == "identity":
        return keystone_error(status, message)
    if service == "compute":
        return nova_error(status, message)
    if service == "network":
        return neutron_error(status, "HTTP" + title(status).replace(" ", ""), message)
    if service == "image":
        return glance_error(status, message)
    return ApiError(status, {"error": {"code": status, "message": message}})
