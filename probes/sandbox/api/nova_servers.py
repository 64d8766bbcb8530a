"""Nova servers: create, list (+detail, filters, pagination), show, update, delete and the
os-getConsoleOutput action."""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from typing import Any
from urllib.parse import urlencode

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.nova_render import compute_url, links, server_doc
from probes.sandbox.api.nova_validate import CreateRequest, parse_create
from probes.sandbox.api.paging import after_marker
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.compute import Server, new_server_id
from probes.sandbox.guests.base import GuestSpec
from probes.sandbox.guests.mjf import features

_PREFIX = "/compute/v2.1"


def owned(ctx: Ctx, server_id: str) -> Server:
    """The caller's project's server, or Nova's 404."""
    assert ctx.token is not None and ctx.token.project is not None
    server = ctx.cloud.servers.get(server_id)
    if server is None or server.project_id != ctx.token.project.id:
        raise nova_error(404, f"Instance {server_id} could not be found.")
    return server


def usage(ctx: Ctx, project_id: str) -> tuple[int, int, int]:
    """(instances, cores, RAM MiB) a project uses now."""
    flavors = ctx.cloud.inventory.flavors
    used = [flavors[s.flavor_id].spec for s in ctx.cloud.servers.all()
            if s.project_id == project_id]
    return len(used), sum(f.vcpus for f in used), sum(f.ram for f in used)


def _check_quota(ctx: Ctx, req: CreateRequest, project_id: str) -> None:
    forced = ctx.cloud.faults.faults.quota_exceeded
    quota = ctx.cloud.config.quota
    instances, cores, ram = usage(ctx, project_id)
    over = None
    if forced is not None or instances + 1 > quota.instances:
        over = ("instances", 1, instances, quota.instances if forced is None else instances)
    elif cores + req.flavor.spec.vcpus > quota.cores:
        over = ("cores", req.flavor.spec.vcpus, cores, quota.cores)
    elif ram + req.flavor.spec.ram > quota.ram:
        over = ("ram", req.flavor.spec.ram, ram, quota.ram)
    if len(req.metadata) > quota.metadata_items:
        raise nova_error(403, f"Quota exceeded for metadata_items: Requested "
                              f"{len(req.metadata)}, but already used 0 of "
                              f"{quota.metadata_items} metadata_items")
    if over is None:
        return
    what, asked, in_use, allowed = over
    message = (f"Quota exceeded for {what}: Requested {asked}, but already used {in_use} of "
               f"{allowed} {what}")
    if forced == 413:
        raise nova_error(413, message, retryAfter="0")
    raise nova_error(403, message)


@route(f"{_PREFIX}/servers", "POST", "compute", "create")
def create(ctx: Ctx) -> Reply:
    """POST /servers: validate like Nova, then BUILD a server whose guest runs the user-data."""
    assert ctx.token is not None and ctx.token.project is not None
    project_id = ctx.token.project.id
    req = parse_create(ctx, ctx.json_body(), project_id)
    cloud = ctx.cloud
    with cloud.servers.lock:
        _check_quota(ctx, req, project_id)
    later = cloud.faults.faults.create_after_504
    if later is not None:
        timer = threading.Timer(later, _commit, args=(ctx, req, project_id))
        timer.daemon = True
        cloud.later.append(timer)
        timer.start()
        raise nova_error(504, "Gateway Timeout: the server did not answer in time")
    server = _commit(ctx, req, project_id)
    doc = {"id": server.id, "links": links(ctx, "servers", server.id),
           "OS-DCF:diskConfig": "MANUAL", "security_groups": [{"name": "default"}],
           "adminPass": secrets.token_urlsafe(9)}
    return Reply(202, {"server": doc}, {"Location": f"{compute_url(ctx)}/servers/{server.id}"})


def _commit(ctx: Ctx, req: CreateRequest, project_id: str) -> Server:
    """Make the server and start its guest."""
    assert ctx.token is not None
    cloud = ctx.cloud
    with cloud.servers.lock:
        if cloud.closed:
            raise RuntimeError("the sandbox stopped before a put-off create")
        now = time.time()
        server = Server(new_server_id(), req.name, project_id, ctx.token.user.id, req.image.id,
                        req.flavor.id, tuple(n.id for n in req.networks), dict(req.metadata),
                        list(req.tags), req.user_data, req.config_drive, None, req.description,
                        now, cloud.faults.faults)
        machine, job = features(cloud.config.mjf, server.id, now)
        spec = GuestSpec(server.id, req.name, re.sub(r"[^a-z0-9-]", "-", req.name.lower())[:63],
                         project_id, now, req.user_data, not server.faults.userdata_not_run,
                         dict(req.metadata), req.networks, req.flavor.spec.vcpus,
                         req.flavor.spec.ram, machine, job,
                         hang=server.faults.guest_never_boots)
        cloud.servers.create(server, spec)
    return server


def _metadata_filter(raw: str) -> dict[str, str]:
    try:
        value = json.loads(raw)
    except ValueError:
        raise nova_error(400, f"Invalid metadata filter: {raw[:80]}") from None
    items = value if isinstance(value, list) else [value]
    merged: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            raise nova_error(400, f"Invalid metadata filter: {raw[:80]}")
        merged.update({str(k): str(v) for k, v in item.items()})
    return merged


def _filtered(ctx: Ctx) -> list[Server]:
    assert ctx.token is not None and ctx.token.project is not None
    servers = [s for s in ctx.cloud.servers.all() if s.project_id == ctx.token.project.id]
    mv = ctx.microversion or (2, 1)
    name = ctx.query("name")
    if name is not None:
        try:
            pattern = re.compile(name)
        except re.error:
            raise nova_error(400, f"Invalid name filter: {name[:80]}") from None
        servers = [s for s in servers if pattern.search(s.name)]
    status = ctx.query("status")
    if status is not None:
        servers = [s for s in servers if s.status.lower() == status.lower()]
    metadata = ctx.query("metadata")
    if metadata is not None:
        wanted = _metadata_filter(metadata)
        servers = [s for s in servers if all(s.metadata.get(k) == v for k, v in wanted.items())]
    if mv >= (2, 26):
        for key, test in (("tags", all), ("tags-any", any)):
            raw = ctx.query(key)
            if raw:
                tags = raw.split(",")
                servers = [s for s in servers if test(t in s.tags for t in tags)]
        for key, test in (("not-tags", all), ("not-tags-any", any)):
            raw = ctx.query(key)
            if raw:
                tags = raw.split(",")
                servers = [s for s in servers if not test(t in s.tags for t in tags)]
    return sorted(servers, key=lambda s: (-s.created, s.id))


def _page(ctx: Ctx, servers: list[Server], path: str) -> tuple[list[Server], list[dict[str, str]]]:
    """The page after ``marker``: at most ``limit`` servers, never more than Nova's max_limit
    (also without ``limit``), and a next link when more remain."""
    marker, limit_raw = ctx.query("marker"), ctx.query("limit")
    after = after_marker(servers, marker, lambda s: s.id)
    if after is None:
        raise nova_error(400, f"marker [{marker}] not found")
    servers = after
    max_limit = ctx.cloud.config.max_limit
    limit = max_limit
    if limit_raw is not None:
        try:
            limit = int(limit_raw)
            if limit < 0:
                raise ValueError
        except ValueError:
            raise nova_error(400, f"Invalid input for query parameters limit. Value: "
                                  f"{limit_raw}. must be a non-negative integer") from None
        limit = min(limit, max_limit) if limit else max_limit  # 0: no limit asked for
    if len(servers) <= limit:
        return servers, []
    page = servers[:limit]
    # Nova keeps the request's filters (and limit) in the next link and only moves the marker.
    params = [(k, v) for k, v in ctx.request.args.items(multi=True) if k != "marker"]
    nxt = f"{compute_url(ctx)}/{path}?" + urlencode([*params, ("marker", page[-1].id)])
    return page, [{"rel": "next", "href": nxt}]


@route(f"{_PREFIX}/servers", "GET", "compute", "list")
def list_servers(ctx: Ctx) -> Reply:
    """GET /servers: id, name and links of the project's servers."""
    page, more = _page(ctx, _filtered(ctx), "servers")
    body: dict[str, Any] = {"servers": [{"id": s.id, "name": s.name,
                                         "links": links(ctx, "servers", s.id)} for s in page]}
    if more:
        body["servers_links"] = more
    return Reply(200, body)


@route(f"{_PREFIX}/servers/detail", "GET", "compute", "list")
def list_detail(ctx: Ctx) -> Reply:
    """GET /servers/detail: full documents (metadata included)."""
    page, more = _page(ctx, _filtered(ctx), "servers/detail")
    with ctx.cloud.servers.lock:
        body: dict[str, Any] = {"servers": [server_doc(ctx, s, view="detail") for s in page]}
    if more:
        body["servers_links"] = more
    return Reply(200, body)


@route(f"{_PREFIX}/servers/<server_id>", "GET", "compute", "show")
def show(ctx: Ctx, server_id: str) -> Reply:
    """GET /servers/{id}."""
    server = owned(ctx, server_id)
    with ctx.cloud.servers.lock:
        return Reply(200, {"server": server_doc(ctx, server)})


@route(f"{_PREFIX}/servers/<server_id>", "PUT", "compute", "update")
def update(ctx: Ctx, server_id: str) -> Reply:
    """PUT /servers/{id}: rename or describe."""
    server = owned(ctx, server_id)
    body = ctx.json_body().get("server")
    allowed = {"name", "description"} if (ctx.microversion or (2, 1)) >= (2, 19) else {"name"}
    if not isinstance(body, dict) or set(body) - allowed:
        raise nova_error(400, "Invalid input for field/attribute server. Additional properties "
                              "are not allowed.")
    with ctx.cloud.servers.lock:
        if "name" in body:
            if not isinstance(body["name"], str) or not 1 <= len(body["name"]) <= 255:
                raise nova_error(400, "Invalid input for field/attribute name.")
            server.name = body["name"]
        if "description" in body:
            server.description = body["description"]
        server.touch()
        return Reply(200, {"server": server_doc(ctx, server, view="update")})


@route(f"{_PREFIX}/servers/<server_id>", "DELETE", "compute", "delete")
def delete(ctx: Ctx, server_id: str) -> Reply:
    """DELETE /servers/{id}: 204, the server is gone (404) after the delete delay."""
    ctx.cloud.servers.delete(owned(ctx, server_id))
    return Reply(204)


def _console(ctx: Ctx, server: Server, args: Any) -> Reply:
    if ctx.cloud.faults.faults.console_forbidden:
        raise nova_error(403, "Policy doesn't allow os_compute_api:os-console-output to be "
                              "performed.")
    length = (args or {}).get("length") if isinstance(args, dict) else None
    if length is not None:
        try:
            length = int(length)
        except (TypeError, ValueError):
            raise nova_error(400, f"Invalid input for field/attribute length. Value: {length}."
                             ) from None
    guest = server.guest
    if guest is None or server.status != "ACTIVE":
        raise nova_error(409, f"Instance {server.id} is not ready for console output "
                              f"(vm_state {server.vm_state}).")
    lines = guest.console().splitlines(keepends=True)
    if length is not None and length >= 0:
        lines = lines[-length:] if length else []
    return Reply(200, {"output": "".join(lines)})


@route(f"{_PREFIX}/servers/<server_id>/action", "POST", "compute", "console")
def action(ctx: Ctx, server_id: str) -> Reply:
    """POST /servers/{id}/action: os-getConsoleOutput (other actions are not offered)."""
    server = owned(ctx, server_id)
    body = ctx.json_body()
    if len(body) != 1:
        raise nova_error(400, "Malformed request body: exactly one action expected.")
    name, args = next(iter(body.items()))
    if name == "os-getConsoleOutput":
        return _console(ctx, server, args)
    raise nova_error(400, f"There is no such action: {name}")


ROUTES = collect(globals())
