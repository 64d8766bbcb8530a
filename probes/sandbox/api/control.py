"""The sandbox's own control API (not an OpenStack API): request log, live servers, faults.

Authenticated with the control token (``X-Control-Token``), which is separate from Keystone so
that a probe under test can never change the faults it is being tested against.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from probes.sandbox.api.errors import ApiError
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.compute import Server
from probes.sandbox.config import describe
from probes.sandbox.faults import Faults


def server_summary(server: Server) -> dict[str, Any]:
    """What tests need to spot leaks: id, name, project, status, metadata, tags, addresses."""
    guest = server.guest
    return {"id": server.id, "name": server.name, "project_id": server.project_id,
            "status": server.status, "task_state": server.task_state,
            "metadata": dict(server.metadata), "tags": list(server.tags),
            "created": server.created,
            "addresses": [a.addr for a in guest.addresses] if guest else [],
            "reach_port": guest.reach_port if guest else None}


@route("/control/health", "GET", "control", "control", auth=False)
def health(ctx: Ctx) -> Reply:
    """Liveness (no token needed; says nothing else)."""
    return Reply(200, {"status": "ok"})


@route("/control/requests", "GET", "control", "control")
def requests_log(ctx: Ctx) -> Reply:
    """The request log, optionally only entries after ``?since=<seq>``."""
    try:
        since = int(ctx.query("since") or 0)
    except ValueError:
        raise ApiError(400, {"error": "since must be an integer"}) from None
    return Reply(200, {"requests": [e.as_dict() for e in ctx.cloud.requests.entries(since)]})


@route("/control/requests", "DELETE", "control", "control")
def requests_clear(ctx: Ctx) -> Reply:
    """Forget the request log."""
    ctx.cloud.requests.clear()
    return Reply(204)


@route("/control/servers", "GET", "control", "control")
def servers(ctx: Ctx) -> Reply:
    """Every server that exists now (not yet gone), of every project."""
    with ctx.cloud.servers.lock:
        return Reply(200, {"guest_kind": ctx.cloud.guest_kind,
                           "servers": [server_summary(s) for s in ctx.cloud.servers.all()]})


@route("/control/faults", "GET", "control", "control")
def faults_get(ctx: Ctx) -> Reply:
    """The faults in force."""
    return Reply(200, {"faults": ctx.cloud.faults.faults.model_dump(mode="json")})


@route("/control/faults", "PUT,PATCH", "control", "control")
def faults_set(ctx: Ctx) -> Reply:
    """Replace (PUT) or update (PATCH) the faults; invalid ones are refused with the key named."""
    body = ctx.json_body()
    if ctx.request.method == "PATCH":
        body = {**ctx.cloud.faults.faults.model_dump(), **body}
    try:
        faults = Faults.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        key, shown = describe(("faults", *first["loc"]), first.get("input"))
        message = str(first["msg"]).removeprefix("Value error, ")  # as parse_config words it
        raise ApiError(400, {"error": f"key '{key}' value {shown}: {message}"}) from None
    ctx.cloud.set_faults(faults)
    return Reply(200, {"faults": faults.model_dump(mode="json")})


ROUTES = collect(globals())
