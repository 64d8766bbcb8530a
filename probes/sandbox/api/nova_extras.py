"""Nova beyond servers: version documents, server metadata and tags (flavors and limits are in
nova_flavors)."""

from __future__ import annotations

from typing import Any

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.nova_render import (
    MAX_VERSION,
    MIN_VERSION,
    compute_url,
    version_str,
)
from probes.sandbox.api.nova_servers import owned
from probes.sandbox.api.nova_validate import metadata_of, tags_of
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.compute import Server

_PREFIX = "/compute/v2.1"
_V21_UPDATED = "2013-07-23T11:33:21Z"


def _v21(ctx: Ctx) -> dict[str, Any]:
    return {"id": "v2.1", "status": "CURRENT", "version": version_str(MAX_VERSION),
            "min_version": version_str(MIN_VERSION), "updated": _V21_UPDATED,
            "links": [{"rel": "self", "href": compute_url(ctx) + "/"}]}


@route("/compute", "GET", "compute", "versions", auth=False)
def versions(ctx: Ctx) -> Reply:
    """GET /compute/: the versions Nova offers."""
    v20 = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
           "updated": "2011-01-21T11:33:21Z",
           "links": [{"rel": "self", "href": f"{ctx.base_url}/compute/v2/"}]}
    return Reply(200, {"versions": [v20, _v21(ctx)]})


@route(_PREFIX, "GET", "compute", "versions", auth=False)
def version(ctx: Ctx) -> Reply:
    """GET /compute/v2.1: the version document clients read first."""
    doc = _v21(ctx)
    doc["media-types"] = [{"base": "application/json",
                           "type": "application/vnd.openstack.compute+json;version=2.1"}]
    return Reply(200, {"version": doc})


# -- metadata -------------------------------------------------------------------------------
def _modifiable(server: Server, what: str) -> None:
    if server.vm_state != "active" or server.task_state is not None:
        raise nova_error(409, f"Cannot '{what}' instance {server.id} while it is in vm_state "
                              f"{server.vm_state}")


def _meta_body(ctx: Ctx, key: str) -> dict[str, str]:
    body = ctx.json_body()
    if set(body) != {key}:
        raise nova_error(400, f"Invalid input for field/attribute {key}: '{key}' is a required "
                              "property")
    return metadata_of(body[key], key)


@route(f"{_PREFIX}/servers/<server_id>/metadata", "GET", "compute", "metadata")
def metadata_list(ctx: Ctx, server_id: str) -> Reply:
    """GET /servers/{id}/metadata."""
    return Reply(200, {"metadata": dict(owned(ctx, server_id).metadata)})


@route(f"{_PREFIX}/servers/<server_id>/metadata", "POST,PUT", "compute", "metadata")
def metadata_set(ctx: Ctx, server_id: str) -> Reply:
    """POST merges, PUT replaces the server's metadata."""
    server = owned(ctx, server_id)
    items = _meta_body(ctx, "metadata")
    with ctx.cloud.servers.lock:
        _modifiable(server, "update metadata")
        merged = dict(items) if ctx.request.method == "PUT" else {**server.metadata, **items}
        if len(merged) > ctx.cloud.config.quota.metadata_items:
            raise nova_error(403, "Quota exceeded for metadata_items: Requested "
                                  f"{len(merged)}, but already used 0 of "
                                  f"{ctx.cloud.config.quota.metadata_items} metadata_items")
        server.metadata = merged
        server.touch()
        return Reply(200, {"metadata": dict(merged)})


@route(f"{_PREFIX}/servers/<server_id>/metadata/<key>", "GET", "compute", "metadata")
def metadata_get(ctx: Ctx, server_id: str, key: str) -> Reply:
    """GET /servers/{id}/metadata/{key}."""
    server = owned(ctx, server_id)
    if key not in server.metadata:
        raise nova_error(404, "Metadata item was not found")
    return Reply(200, {"meta": {key: server.metadata[key]}})


@route(f"{_PREFIX}/servers/<server_id>/metadata/<key>", "PUT", "compute", "metadata")
def metadata_put(ctx: Ctx, server_id: str, key: str) -> Reply:
    """PUT /servers/{id}/metadata/{key} with {"meta": {key: value}}."""
    server = owned(ctx, server_id)
    meta = _meta_body(ctx, "meta")
    if list(meta) != [key]:
        raise nova_error(400, "Request body and URI mismatch")
    with ctx.cloud.servers.lock:
        _modifiable(server, "update metadata")
        server.metadata[key] = meta[key]
        server.touch()
    return Reply(200, {"meta": meta})


@route(f"{_PREFIX}/servers/<server_id>/metadata/<key>", "DELETE", "compute", "metadata")
def metadata_delete(ctx: Ctx, server_id: str, key: str) -> Reply:
    """DELETE /servers/{id}/metadata/{key}."""
    server = owned(ctx, server_id)
    with ctx.cloud.servers.lock:
        if key not in server.metadata:
            raise nova_error(404, "Metadata item was not found")
        _modifiable(server, "delete metadata")
        del server.metadata[key]
        server.touch()
    return Reply(204)


# -- tags (2.26+) ---------------------------------------------------------------------------
def _tagged(ctx: Ctx, server_id: str) -> Server:
    if (ctx.microversion or MIN_VERSION) < (2, 26):
        raise nova_error(404, "The resource could not be found.")
    server = owned(ctx, server_id)
    if server.vm_state not in ("active", "building"):
        raise nova_error(409, f"Cannot 'update tags' instance {server.id} while it is in "
                              f"vm_state {server.vm_state}")
    return server


@route(f"{_PREFIX}/servers/<server_id>/tags", "GET", "compute", "tags")
def tags_list(ctx: Ctx, server_id: str) -> Reply:
    """GET /servers/{id}/tags."""
    return Reply(200, {"tags": list(_tagged(ctx, server_id).tags)})


@route(f"{_PREFIX}/servers/<server_id>/tags", "PUT", "compute", "tags")
def tags_replace(ctx: Ctx, server_id: str) -> Reply:
    """PUT /servers/{id}/tags: replace all tags."""
    server = _tagged(ctx, server_id)
    tags = tags_of(ctx.json_body().get("tags"))
    with ctx.cloud.servers.lock:
        server.tags = list(tags)
        server.touch()
    return Reply(200, {"tags": list(tags)})


@route(f"{_PREFIX}/servers/<server_id>/tags", "DELETE", "compute", "tags")
def tags_clear(ctx: Ctx, server_id: str) -> Reply:
    """DELETE /servers/{id}/tags."""
    server = _tagged(ctx, server_id)
    with ctx.cloud.servers.lock:
        server.tags = []
        server.touch()
    return Reply(204)


@route(f"{_PREFIX}/servers/<server_id>/tags/<tag>", "GET", "compute", "tags")
def tag_check(ctx: Ctx, server_id: str, tag: str) -> Reply:
    """GET /servers/{id}/tags/{tag}: 204 if present."""
    if tag not in _tagged(ctx, server_id).tags:
        raise nova_error(404, f"Tag {tag} could not be found.")
    return Reply(204)


@route(f"{_PREFIX}/servers/<server_id>/tags/<tag>", "PUT", "compute", "tags")
def tag_add(ctx: Ctx, server_id: str, tag: str) -> Reply:
    """PUT /servers/{id}/tags/{tag}: 201 when added, 204 when it was there."""
    server = _tagged(ctx, server_id)
    tags_of([tag])
    location = {"Location": f"{compute_url(ctx)}/servers/{server_id}/tags/{tag}"}
    with ctx.cloud.servers.lock:
        if tag in server.tags:
            return Reply(204, None, location)
        if len(server.tags) >= 50:
            raise nova_error(400, "The number of tags exceeded the per-server limit 50")
        server.tags.append(tag)
        server.touch()
    return Reply(201, None, location)


@route(f"{_PREFIX}/servers/<server_id>/tags/<tag>", "DELETE", "compute", "tags")
def tag_delete(ctx: Ctx, server_id: str, tag: str) -> Reply:
    """DELETE /servers/{id}/tags/{tag}."""
    server = _tagged(ctx, server_id)
    with ctx.cloud.servers.lock:
        if tag not in server.tags:
            raise nova_error(404, f"Tag {tag} could not be found.")
        server.tags.remove(tag)
        server.touch()
    return Reply(204)


ROUTES = collect(globals())
