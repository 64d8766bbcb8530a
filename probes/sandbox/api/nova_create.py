"""POST /servers: validate like Nova, check the quota for every server asked for
(min_count/max_count), then BUILD them; each guest runs the user-data."""

from __future__ import annotations

import re
import secrets
import threading
import time

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.nova_render import compute_url, links
from probes.sandbox.api.nova_servers import usage
from probes.sandbox.api.nova_validate import CreateRequest, parse_create
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.compute import Server, new_server_id
from probes.sandbox.guests.base import GuestSpec
from probes.sandbox.guests.mjf import features

_PREFIX = "/compute/v2.1"
_RESOURCES = ("instances", "cores", "ram")


def _check_metadata(ctx: Ctx, req: CreateRequest) -> None:
    allowed = ctx.cloud.config.quota.metadata_items
    if len(req.metadata) > allowed:
        raise nova_error(403, f"Quota exceeded for metadata_items: Requested "
                              f"{len(req.metadata)}, but already used 0 of {allowed} "
                              "metadata_items")


def _count(ctx: Ctx, req: CreateRequest, project_id: str) -> int:
    """How many servers to make: max_count if the quota has room, else as many as it has room
    for if that is at least min_count, else Nova's 403 (or the injected 403/413); as
    nova.compute.utils.check_num_instances_quota does."""
    _check_metadata(ctx, req)
    forced = ctx.cloud.faults.faults.quota_exceeded
    quota = ctx.cloud.config.quota
    used = dict(zip(_RESOURCES, usage(ctx, project_id), strict=True))
    limit = {"instances": used["instances"] if forced is not None else quota.instances,
             "cores": quota.cores, "ram": quota.ram}
    each = {"instances": 1, "cores": req.flavor.spec.vcpus, "ram": req.flavor.spec.ram}
    wanted = req.max_count
    overs = [r for r in _RESOURCES if used[r] + each[r] * wanted > limit[r]]
    if not overs:
        return wanted
    room = {r: limit[r] - used[r] for r in _RESOURCES}
    allowed = min([room["instances"]] + [room[r] // each[r] for r in ("cores", "ram") if each[r]])
    if forced is None and req.min_count <= allowed <= wanted:
        return allowed
    asked = {"instances": str(req.min_count) if req.min_count == wanted
             else f"{req.min_count}-{wanted}",
             "cores": str(wanted * each["cores"]), "ram": str(wanted * each["ram"])}
    names = ", ".join(overs)
    message = (f"Quota exceeded for {names}: Requested {', '.join(asked[r] for r in overs)}, "
               f"but already used {', '.join(str(used[r]) for r in overs)} of "
               f"{', '.join(str(limit[r]) for r in overs)} {names}")
    if forced == 413:
        raise nova_error(413, message, retryAfter="0")
    raise nova_error(403, message)


@route(f"{_PREFIX}/servers", "POST", "compute", "create")
def create(ctx: Ctx) -> Reply:
    """POST /servers: the first server's document, or {"reservation_id"} when asked for."""
    assert ctx.token is not None and ctx.token.project is not None
    project_id = ctx.token.project.id
    req = parse_create(ctx, ctx.json_body(), project_id)
    cloud = ctx.cloud
    reservation = f"r-{secrets.token_hex(4)}"
    with cloud.servers.lock:
        count = _count(ctx, req, project_id)
    later = cloud.faults.faults.create_after_504
    if later is not None:
        timer = threading.Timer(later, _commit, args=(ctx, req, project_id, count))
        timer.daemon = True
        cloud.later.append(timer)
        timer.start()
        raise nova_error(504, "Gateway Timeout: the server did not answer in time")
    servers = _commit(ctx, req, project_id, count)
    if req.return_reservation_id:
        return Reply(202, {"reservation_id": reservation})
    server = servers[0]
    doc = {"id": server.id, "links": links(ctx, "servers", server.id),
           "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}],
           "adminPass": secrets.token_urlsafe(9)}
    return Reply(202, {"server": doc}, {"Location": f"{compute_url(ctx)}/servers/{server.id}"})


def _commit(ctx: Ctx, req: CreateRequest, project_id: str, count: int) -> list[Server]:
    """Make the servers and start their guests; several are named name-1, name-2, … as Nova's
    _populate_instance_names does."""
    names = [req.name] if count == 1 else [f"{req.name}-{i}" for i in range(1, count + 1)]
    with ctx.cloud.servers.lock:
        if ctx.cloud.closed:
            raise RuntimeError("the sandbox stopped before a put-off create")
        return [_one(ctx, req, project_id, name) for name in names]


def _one(ctx: Ctx, req: CreateRequest, project_id: str, name: str) -> Server:
    assert ctx.token is not None
    cloud = ctx.cloud
    now = time.time()
    server = Server(new_server_id(), name, project_id, ctx.token.user.id, req.image.id,
                    req.flavor.id, tuple(n.id for n in req.networks), dict(req.metadata),
                    list(req.tags), req.user_data, req.config_drive, None, req.description,
                    now, cloud.faults.faults)
    machine, job = features(cloud.config.mjf, server.id, now)
    spec = GuestSpec(server.id, name, re.sub(r"[^a-z0-9-]", "-", name.lower())[:63],
                     project_id, now, req.user_data, not server.faults.userdata_not_run,
                     dict(req.metadata), req.networks, req.flavor.spec.vcpus,
                     req.flavor.spec.ram, machine, job, hang=server.faults.guest_never_boots)
    cloud.servers.create(server, spec)
    return server


ROUTES = collect(globals())
