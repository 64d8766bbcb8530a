"""Nova servers: list (+detail, filters, pagination), show, update, delete and the
os-getConsoleOutput action (create is in nova_create)."""

from __future__ import annotations

import json
import re
from typing import Any

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.nova_paging import nova_page
from probes.sandbox.api.nova_render import links, server_doc
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.compute import Server

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


def _server_id(server: Server) -> str:
    return server.id


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


@route(f"{_PREFIX}/servers", "GET", "compute", "list")
def list_servers(ctx: Ctx) -> Reply:
    """GET /servers: id, name and links of the project's servers."""
    page, more = nova_page(ctx, _filtered(ctx), _server_id, "servers")
    body: dict[str, Any] = {"servers": [{"id": s.id, "name": s.name,
                                         "links": links(ctx, "servers", s.id)} for s in page]}
    if more:
        body["servers_links"] = more
    return Reply(200, body)


@route(f"{_PREFIX}/servers/detail", "GET", "compute", "list")
def list_detail(ctx: Ctx) -> Reply:
    """GET /servers/detail: full documents (metadata included)."""
    page, more = nova_page(ctx, _filtered(ctx), _server_id, "servers/detail")
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
