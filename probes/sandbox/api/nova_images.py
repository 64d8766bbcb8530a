"""Nova's image proxy (GET /images, /images/detail, /images/{id}): the sandbox's Glance images in
Nova's image format (nova/api/openstack/compute/views/images.py). Removed at microversion 2.36,
as Nova's MAX_PROXY_API_SUPPORT_VERSION (2.35) has it; Libcloud's OpenStack driver lists here."""

from __future__ import annotations

from typing import Any

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.nova_paging import nova_page
from probes.sandbox.api.nova_render import MIN_VERSION, links
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.inventory import ImageRec
from probes.sandbox.timefmt import iso_z

_PREFIX = "/compute/v2.1"
MAX_PROXY_VERSION = (2, 35)


def proxy_only(ctx: Ctx) -> None:
    """404 from 2.36 on, as Nova answers a proxy API it removed."""
    if (ctx.microversion or MIN_VERSION) > MAX_PROXY_VERSION:
        raise nova_error(404, "The resource could not be found.")


def _links(ctx: Ctx, image_id: str) -> list[dict[str, str]]:
    # Nova adds Glance's (unversioned) URL of the image as "alternate"
    return [*links(ctx, "images", image_id),
            {"rel": "alternate", "type": "application/vnd.openstack.image",
             "href": f"{ctx.base_url}/image/images/{image_id}"}]


def _doc(ctx: Ctx, img: ImageRec, detail: bool) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": img.id, "name": img.spec.name, "links": _links(ctx, img.id)}
    if not detail:
        return doc
    doc.update({"minRam": img.spec.min_ram, "minDisk": img.spec.min_disk,
                "metadata": dict(img.spec.properties), "created": iso_z(img.created),
                "updated": iso_z(img.created), "status": "ACTIVE", "progress": 100,
                "OS-EXT-IMG-SIZE:size": img.spec.size})
    auto = img.spec.properties.get("auto_disk_config")
    if auto is not None:
        doc["OS-DCF:diskConfig"] = "AUTO" if auto.lower() in ("1", "t", "true", "on", "y",
                                                             "yes") else "MANUAL"
    return doc


def _at_least(ctx: Ctx, name: str) -> int:
    raw = ctx.query(name)
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        raise nova_error(400, f"Invalid {name} filter [{raw}]") from None


def _listed(ctx: Ctx) -> list[ImageRec]:
    """What Nova's Glance list gives the project: visible, not community or hidden, newest
    first, filtered by name, status, minRam/minDisk (at least) and property-<key>."""
    assert ctx.token is not None and ctx.token.project is not None
    inv = ctx.cloud.inventory
    images = [i for i in inv.images.values()
              if inv.image_visible(i, ctx.token.project.id)
              and i.spec.visibility != "community" and not i.spec.os_hidden]
    name, status = ctx.query("name"), ctx.query("status")
    if name is not None:
        images = [i for i in images if i.spec.name == name]
    if status is not None and status.lower() != "active":
        images = []  # every sandbox image is active
    min_ram, min_disk = _at_least(ctx, "minRam"), _at_least(ctx, "minDisk")
    images = [i for i in images if i.spec.min_ram >= min_ram and i.spec.min_disk >= min_disk]
    for key, value in ctx.request.args.items():
        if key.startswith("property-"):
            images = [i for i in images if i.spec.properties.get(key[9:]) == value]
    return sorted(images, key=lambda i: (i.created, i.id), reverse=True)


def _list(ctx: Ctx, path: str, detail: bool) -> Reply:
    proxy_only(ctx)
    page, more = nova_page(ctx, _listed(ctx), lambda i: i.id, path, capped=False)
    body: dict[str, Any] = {"images": [_doc(ctx, i, detail) for i in page]}
    if more:
        body["images_links"] = more
    return Reply(200, body)


@route(f"{_PREFIX}/images", "GET", "compute", "images")
def images(ctx: Ctx) -> Reply:
    """GET /images: id, name and links."""
    return _list(ctx, "images", detail=False)


@route(f"{_PREFIX}/images/detail", "GET", "compute", "images")
def images_detail(ctx: Ctx) -> Reply:
    """GET /images/detail: Nova's full image documents."""
    return _list(ctx, "images/detail", detail=True)


@route(f"{_PREFIX}/images/<image_id>", "GET", "compute", "images")
def image_show(ctx: Ctx, image_id: str) -> Reply:
    """GET /images/{id}."""
    proxy_only(ctx)
    assert ctx.token is not None and ctx.token.project is not None
    img = ctx.cloud.inventory.images.get(image_id)
    if img is None or not ctx.cloud.inventory.image_visible(img, ctx.token.project.id):
        raise nova_error(404, "Image not found.")
    return Reply(200, {"image": _doc(ctx, img, detail=True)})


ROUTES = collect(globals())
