"""The WSGI application: routing, authentication, microversions, injected faults, error
rendering and the request log — everything handlers should not repeat."""

from __future__ import annotations

import email.utils
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import BaseConverter, Map, Rule
from werkzeug.wrappers import Request, Response

from probes.sandbox.api import (
    control,
    glance,
    keystone,
    keystone_self,
    neutron,
    nova_create,
    nova_extras,
    nova_flavors,
    nova_images,
    nova_ips,
    nova_proxy,
    nova_quotas,
    nova_servers,
    nova_usage,
    nova_zones,
    oidc,
)
from probes.sandbox.api.errors import ApiError, service_error, unauthorized
from probes.sandbox.api.http import Ctx, Reply, service_of
from probes.sandbox.api.nova_render import negotiate, version_headers
from probes.sandbox.api.routes import Route
from probes.sandbox.catalog import auth_url
from probes.sandbox.faults import LATE_ANSWER_OPERATIONS

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from probes.sandbox.cloud import Cloud

log = logging.getLogger(__name__)

ALL_ROUTES: list[Route] = [*keystone.ROUTES, *keystone_self.ROUTES, *nova_create.ROUTES,
                           *nova_servers.ROUTES, *nova_extras.ROUTES, *nova_flavors.ROUTES,
                           *nova_images.ROUTES, *nova_proxy.ROUTES, *nova_zones.ROUTES,
                           *nova_ips.ROUTES, *nova_quotas.ROUTES, *nova_usage.ROUTES,
                           *glance.ROUTES, *neutron.ROUTES, *oidc.ROUTES, *control.ROUTES]

_COMPUTE = "/compute/v2.1/"
_URL_PROJECT = "url_project_id"


class ProjectIdConverter(BaseConverter):
    """A project id in a compute URL: Nova's ProjectMapper takes hex and dashes only."""

    regex = r"[0-9a-f\-]+"


def _rules(routes: list[Route]) -> Map:
    rules = []
    for r in routes:
        paths = [r.rule]
        if r.service == "compute" and r.auth and r.rule.startswith(_COMPUTE):
            # every compute call also answers under /v2.1/{project_id}/ (old catalogs, ooi)
            paths.append(f"{_COMPUTE}<project:{_URL_PROJECT}>/{r.rule[len(_COMPUTE):]}")
        for path in paths:
            methods = list(r.methods)
            rules.append(Rule(path, methods=methods, endpoint=r.endpoint))
            # Clients ask for version documents with and without the trailing slash.
            rules.append(Rule(path + "/", methods=methods, endpoint=r.endpoint))
    return Map(rules, strict_slashes=False, merge_slashes=False,
               converters={"project": ProjectIdConverter})


def _check_url_project(ctx: Ctx, url_project: str | None) -> None:
    """Nova's 400 when the URL's project is not the token's (nova/api/openstack/wsgi.py)."""
    if url_project is None:
        return
    assert ctx.token is not None and ctx.token.project is not None  # only on auth routes
    if url_project != ctx.token.project.id:
        raise service_error("compute", 400, f"Malformed request URL: URL's project_id "
                                            f"'{url_project}' doesn't match Context's "
                                            f"project_id '{ctx.token.project.id}'")


def _response(reply: Reply) -> Response:
    if reply.body is None:
        resp = Response(status=reply.status)
    elif isinstance(reply.body, str):
        resp = Response(reply.body, status=reply.status, content_type="text/plain; charset=UTF-8")
    else:
        resp = Response(json.dumps(reply.body), status=reply.status,
                        content_type="application/json")
    for key, value in reply.headers.items():
        resp.headers[key] = value
    return resp


class SandboxApp:
    """Dispatches requests to the service handlers."""

    def __init__(self, cloud: Cloud, control_token: str) -> None:
        self.cloud = cloud
        self._control_token = control_token
        self._routes = {r.endpoint: r for r in ALL_ROUTES}
        self._map = _rules(ALL_ROUTES)
        self._closing = threading.Event()  # ends injected latency at shutdown

    def close(self) -> None:
        """Cut short every injected latency still being slept (shutdown)."""
        self._closing.set()

    def __call__(self, environ: WSGIEnvironment,
                 start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        start = time.monotonic()
        route: Route | None = None
        try:
            endpoint, args = self._map.bind_to_environ(environ).match()
            route = self._routes[str(endpoint)]
            reply = self._dispatch(request, route, dict(args))
        except ApiError as exc:
            reply = Reply(exc.status, exc.body, exc.headers)
        except (NotFound, MethodNotAllowed) as exc:
            reply = self._http_error(request, exc)
        except Exception:
            log.exception("sandbox handler failed: %s %s", request.method, request.path)
            err = service_error(service_of(request.path), 500,
                                "An unexpected error occurred in the sandbox.")
            reply = Reply(err.status, err.body, err.headers)
        if request.method == "HEAD":
            reply.body = None
        skew = self.cloud.faults.faults.clock_skew
        if skew:  # else cheroot writes the Date header from this host's clock
            reply.headers["Date"] = email.utils.formatdate(time.time() + skew, usegmt=True)
        service = route.service if route else service_of(request.path)
        if service != "control":  # the log is what clients did to the cloud, not to the sandbox
            self.cloud.requests.add(request.method, request.path,
                                    request.query_string.decode("latin-1"), service,
                                    route.operation if route else "unknown", reply.status,
                                    time.monotonic() - start)
        return _response(reply)(environ, start_response)

    def _http_error(self, request: Request, exc: HTTPException) -> Reply:
        status = exc.code or 404
        message = "The resource could not be found." if status == 404 else \
            f"The method {request.method} is not allowed for this resource."
        err = service_error(service_of(request.path), status, message)
        headers = dict(err.headers)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            headers["Allow"] = ", ".join(exc.valid_methods)
        return Reply(status, err.body, headers)

    def _dispatch(self, request: Request, route: Route, args: dict[str, Any]) -> Reply:
        delay = self.cloud.faults.latency(route.operation)
        if not delay:
            return self._handle(request, route, args)
        if route.operation not in LATE_ANSWER_OPERATIONS:
            self._closing.wait(delay)  # the cloud is slow to act: nothing has happened yet
            return self._handle(request, route, args)
        # A state change is done at once and its answer is late, whatever the answer (the lost
        # answer behind a load balancer's timeout). The sleep holds no lock.
        try:
            return self._handle(request, route, args)
        finally:
            self._closing.wait(delay)

    def _handle(self, request: Request, route: Route, args: dict[str, Any]) -> Reply:
        ctx = Ctx(request, self.cloud)
        failure = self.cloud.faults.error_status(route.operation)
        if failure is not None:
            raise service_error(route.service, failure, "Injected fault: the service is "
                                                        "temporarily unavailable.")
        if route.service == "control":
            if route.auth:
                self._check_control(request)
            return route.handler(ctx, **args)
        if route.auth:
            ctx.token = self.cloud.identity.validate(request.headers.get("X-Auth-Token"))
            if ctx.token is None:
                raise unauthorized(route.service, auth_url(ctx.base_url))
            if ctx.token.project is None and route.service != "identity":
                raise service_error(route.service, 403, "A project-scoped token is required.")
        if route.service != "compute":  # identity, image, network, oidc
            return route.handler(ctx, **args)
        url_project = args.pop(_URL_PROJECT, None)
        ctx.microversion = negotiate(ctx)
        headers = version_headers(ctx.microversion)
        try:
            _check_url_project(ctx, url_project)
            reply = route.handler(ctx, **args)
        except ApiError as exc:
            exc.headers.update(headers)
            raise
        reply.headers.update(headers)
        return reply

    def _check_control(self, request: Request) -> None:
        given = request.headers.get("X-Control-Token", "")
        if not hmac.compare_digest(given.encode(), self._control_token.encode()):
            raise ApiError(401, {"error": "control API: missing or wrong X-Control-Token"})
