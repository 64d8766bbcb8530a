"""What the `openstack` CLI asks Nova beside servers: key pairs (the sandbox has none: an empty
list, a 404 for a name) and a project's usage over a period (os-simple-tenant-usage, computed
from the servers that lived in it, deleted ones included)."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.compute import Server

_PREFIX = "/compute/v2.1"


@route(f"{_PREFIX}/os-keypairs", "GET", "compute", "keypairs")
def keypairs(ctx: Ctx) -> Reply:
    """GET /os-keypairs: the user's key pairs (none: the sandbox does not model them)."""
    return Reply(200, {"keypairs": []})


@route(f"{_PREFIX}/os-keypairs/<name>", "GET", "compute", "keypairs")
def keypair(ctx: Ctx, name: str) -> Reply:
    """GET /os-keypairs/{name}: 404, as Nova answers for a key pair the user does not have."""
    assert ctx.token is not None
    raise nova_error(404, f"Keypair {name} not found for user {ctx.token.user.id}")


def _when(ctx: Ctx, key: str, default: float) -> float:
    """A start/end query value (Nova: ISO 8601, naive is UTC); 400 when it is not one."""
    value = ctx.query(key)
    if value is None:
        return default
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise nova_error(400, f"Invalid input received: Invalid {key} time.") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).replace(tzinfo=None).isoformat()


def _usage(ctx: Ctx, s: Server, start: float, end: float) -> dict[str, Any]:
    spec = ctx.cloud.inventory.flavors[s.flavor_id].spec
    began, stopped = max(s.created, start), min(s.ended or end, end)
    hours = max(0.0, stopped - began) / 3600
    return {"instance_id": s.id, "name": s.name, "tenant_id": s.project_id, "hours": hours,
            "flavor": spec.name, "vcpus": spec.vcpus, "memory_mb": spec.ram,
            "local_gb": spec.disk, "started_at": _iso(s.created),
            "ended_at": _iso(s.ended) if s.ended else None,
            "state": "terminated" if s.ended else s.vm_state,
            "uptime": int((s.ended or time.time()) - s.created)}


@route(f"{_PREFIX}/os-simple-tenant-usage/<project_id>", "GET", "compute", "usage")
def tenant_usage(ctx: Ctx, project_id: str) -> Reply:
    """GET /os-simple-tenant-usage/{project}?start=&end=: the project's servers in the period
    (default: the last 24 hours) and their totals; another project's only for an admin;
    `{}` when nothing ran in it, as Nova answers."""
    assert ctx.token is not None and ctx.token.project is not None
    if project_id != ctx.token.project.id and "admin" not in ctx.token.user.roles:
        raise nova_error(403, "Policy doesn't allow os_compute_api:os-simple-tenant-usage:show "
                              "to be performed.")
    now = time.time()
    end = _when(ctx, "end", now)
    start = _when(ctx, "start", end - 86400)
    if start > end:
        raise nova_error(400, "Invalid input received: Invalid start time. The start time "
                              "cannot occur after the end time.")
    servers = [_usage(ctx, s, start, end) for s in ctx.cloud.servers.used_between(
        project_id, start, end) if s.flavor_id in ctx.cloud.inventory.flavors]
    if not servers:
        return Reply(200, {"tenant_usage": {}})
    return Reply(200, {"tenant_usage": {
        "tenant_id": project_id, "start": _iso(start), "stop": _iso(end),
        "server_usages": servers,
        "total_hours": sum(u["hours"] for u in servers),
        "total_vcpus_usage": sum(u["hours"] * u["vcpus"] for u in servers),
        "total_memory_mb_usage": sum(u["hours"] * u["memory_mb"] for u in servers),
        "total_local_gb_usage": sum(u["hours"] * u["local_gb"] for u in servers)}})


ROUTES = collect(globals())
