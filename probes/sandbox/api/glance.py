"""Glance v2: version documents, images list (filters, limit/marker pagination with ``next``)
show and members. Custom image properties appear as top-level keys, as in Glance."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from probes.sandbox.api import glance_query
from probes.sandbox.api.errors import glance_error
from probes.sandbox.api.glance_schema import image_schema, images_schema
from probes.sandbox.api.paging import after_marker
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.inventory import ImageRec
from probes.sandbox.timefmt import iso_z

_DEFAULT_LIMIT = 25
_MAX_LIMIT = 1000


def _versions(ctx: Ctx) -> list[dict[str, Any]]:
    href = f"{ctx.base_url}/image/v2/"
    return [{"id": v, "status": "CURRENT" if v == "v2.9" else "SUPPORTED",
             "links": [{"rel": "self", "href": href}]}
            for v in ("v2.9", "v2.8", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1",
                      "v2.0")]


@route("/image", "GET", "image", "versions", auth=False)
def versions(ctx: Ctx) -> Reply:
    """GET /image/: Glance answers 300 with its versions."""
    return Reply(300, {"versions": _versions(ctx)})


@route("/image/versions", "GET", "image", "versions", auth=False)
def versions_200(ctx: Ctx) -> Reply:
    """GET /image/versions: the same list with 200."""
    return Reply(200, {"versions": _versions(ctx)})


def image_doc(img: ImageRec) -> dict[str, Any]:
    """An image document as Glance v2 renders it."""
    spec = img.spec
    doc: dict[str, Any] = {
        "id": img.id, "name": spec.name, "status": "active", "visibility": spec.visibility,
        "protected": spec.protected, "os_hidden": spec.os_hidden,
        "checksum": img.id.replace("-", ""),
        "os_hash_algo": "sha512", "os_hash_value": (img.id.replace("-", "") * 4)[:128],
        "owner": img.owner, "size": spec.size, "virtual_size": None,
        "min_ram": spec.min_ram, "min_disk": spec.min_disk,
        "disk_format": spec.disk_format, "container_format": spec.container_format,
        "created_at": iso_z(img.created), "updated_at": iso_z(img.created), "tags": [],
        "self": f"/v2/images/{img.id}", "file": f"/v2/images/{img.id}/file",
        "schema": "/v2/schemas/image",
    }
    doc.update(spec.properties)
    return doc


def _visible(ctx: Ctx) -> list[dict[str, Any]]:
    """The documents of the images the query selects, in its order."""
    assert ctx.token is not None and ctx.token.project is not None
    inv = ctx.cloud.inventory
    pid = ctx.token.project.id
    images = [i for i in inv.images.values() if inv.image_visible(i, pid)]
    if ctx.query("visibility") is None:
        images = [i for i in images if i.spec.visibility != "community"]
    args = ctx.request.args
    docs = glance_query.select([image_doc(i) for i in images], args,
                               lambda d: d["visibility"] == "shared")
    return glance_query.order(docs, args)


@route("/image/v2/images", "GET", "image", "images")
def images(ctx: Ctx) -> Reply:
    """GET /v2/images with filters, limit and marker; ``next`` when more remain."""
    marker = ctx.query("marker")
    found = after_marker(_visible(ctx), marker, lambda d: str(d["id"]))
    if found is None:
        raise glance_error(400, f"marker {marker} could not be found.")
    raw = ctx.query("limit")
    try:
        limit = min(int(raw), _MAX_LIMIT) if raw is not None else _DEFAULT_LIMIT
        if limit < 0:
            raise ValueError
    except ValueError:
        raise glance_error(400, "limit param must be positive") from None
    page = found[:limit]
    body: dict[str, Any] = {"images": page,
                            "first": "/v2/images", "schema": "/v2/schemas/images"}
    if len(found) > limit and page:
        # Glance's next link is the request's query (filters, limit) with the new marker.
        params = [(k, v) for k, v in ctx.request.args.items(multi=True) if k != "marker"]
        body["next"] = "/v2/images?" + urlencode([*params, ("marker", page[-1]["id"])])
    return Reply(200, body)


@route("/image/v2/images/<image_id>", "GET", "image", "images")
def image_show(ctx: Ctx, image_id: str) -> Reply:
    """GET /v2/images/{id}."""
    return Reply(200, image_doc(_visible_image(ctx, image_id)))


def _visible_image(ctx: Ctx, image_id: str) -> ImageRec:
    assert ctx.token is not None and ctx.token.project is not None
    img = ctx.cloud.inventory.images.get(image_id)
    if img is None or not ctx.cloud.inventory.image_visible(img, ctx.token.project.id):
        raise glance_error(404, f"No image found with ID {image_id}")
    return img


@route("/image/v2/images/<image_id>/members", "GET", "image", "images")
def image_members(ctx: Ctx, image_id: str) -> Reply:
    """GET /v2/images/{id}/members: 403 unless the image is shared, as Glance answers; every
    share in the sandbox is accepted by every other project, and a member sees only itself."""
    assert ctx.token is not None and ctx.token.project is not None
    img = _visible_image(ctx, image_id)
    if img.spec.visibility != "shared":
        raise glance_error(403, "Only shared images have members.")
    me = ctx.token.project.id
    members = [p for p in sorted(ctx.cloud.identity.projects) if p != img.owner]
    if me != img.owner:
        members = [me]
    when = iso_z(img.created)
    return Reply(200, {"members": [{"image_id": img.id, "member_id": m, "status": "accepted",
                                    "created_at": when, "updated_at": when,
                                    "schema": "/v2/schemas/member"} for m in members],
                       "schema": "/v2/schemas/members"})


@route("/image/v2/schemas/image", "GET", "image", "schemas")
def schema_image(ctx: Ctx) -> Reply:
    """GET /v2/schemas/image: python-glanceclient reads it before any image call."""
    return Reply(200, image_schema())


@route("/image/v2/schemas/images", "GET", "image", "schemas")
def schema_images(ctx: Ctx) -> Reply:
    """GET /v2/schemas/images: the list's schema."""
    return Reply(200, images_schema())


ROUTES = collect(globals())
