"""Nova's flavors (list, detail, show, extra specs) and the absolute limits."""

from __future__ import annotations

from typing import Any

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.nova_paging import nova_page
from probes.sandbox.api.nova_quotas import numbers
from probes.sandbox.api.nova_render import MIN_VERSION, flavor_doc
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.inventory import FlavorRec

_PREFIX = "/compute/v2.1"


_SORT_KEYS = {"flavorid": lambda f: f.id, "id": lambda f: f.id, "name": lambda f: f.spec.name,
              "memory_mb": lambda f: f.spec.ram, "ram": lambda f: f.spec.ram,
              "vcpus": lambda f: f.spec.vcpus, "root_gb": lambda f: f.spec.disk,
              "disk": lambda f: f.spec.disk}


def _int_filter(ctx: Ctx, name: str) -> int | None:
    raw = ctx.query(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise nova_error(400, f"Invalid {name} filter [{raw}]") from None


def _flavors(ctx: Ctx) -> list[FlavorRec]:
    flavors = list(ctx.cloud.inventory.flavors.values())
    min_disk, min_ram = _int_filter(ctx, "minDisk"), _int_filter(ctx, "minRam")
    if min_disk is not None:
        flavors = [f for f in flavors if f.spec.disk >= min_disk]
    if min_ram is not None:
        flavors = [f for f in flavors if f.spec.ram >= min_ram]
    sort_key, sort_dir = ctx.query("sort_key") or "flavorid", ctx.query("sort_dir") or "asc"
    if sort_key not in _SORT_KEYS or sort_dir not in ("asc", "desc"):
        raise nova_error(400, f"Invalid sort_key/sort_dir: {sort_key} {sort_dir}")
    flavors.sort(key=_SORT_KEYS[sort_key], reverse=sort_dir == "desc")
    return flavors


def _flavor_list(ctx: Ctx, path: str, detail: bool) -> Reply:
    page, more = nova_page(ctx, _flavors(ctx), lambda f: f.id, path)
    body: dict[str, Any] = {"flavors": [flavor_doc(ctx, f, detail=detail) for f in page]}
    if more:
        body["flavors_links"] = more
    return Reply(200, body)


@route(f"{_PREFIX}/flavors", "GET", "compute", "flavors")
def flavors(ctx: Ctx) -> Reply:
    """GET /flavors."""
    return _flavor_list(ctx, "flavors", detail=False)


@route(f"{_PREFIX}/flavors/detail", "GET", "compute", "flavors")
def flavors_detail(ctx: Ctx) -> Reply:
    """GET /flavors/detail with minDisk, minRam, sort_key, sort_dir, limit, marker."""
    return _flavor_list(ctx, "flavors/detail", detail=True)


def _flavor(ctx: Ctx, flavor_id: str) -> FlavorRec:
    flavor = ctx.cloud.inventory.flavors.get(flavor_id)
    if flavor is None:
        raise nova_error(404, f"Flavor {flavor_id} could not be found.")
    return flavor


@route(f"{_PREFIX}/flavors/<flavor_id>", "GET", "compute", "flavors")
def flavor_show(ctx: Ctx, flavor_id: str) -> Reply:
    """GET /flavors/{id}."""
    return Reply(200, {"flavor": flavor_doc(ctx, _flavor(ctx, flavor_id))})


@route(f"{_PREFIX}/flavors/<flavor_id>/os-extra_specs", "GET", "compute", "flavors")
def flavor_extra_specs(ctx: Ctx, flavor_id: str) -> Reply:
    """GET /flavors/{id}/os-extra_specs (none are set)."""
    _flavor(ctx, flavor_id)
    return Reply(200, {"extra_specs": {}})


@route(f"{_PREFIX}/limits", "GET", "compute", "limits")
def limits(ctx: Ctx) -> Reply:
    """GET /limits: absolute quota and usage of the project."""
    assert ctx.token is not None and ctx.token.project is not None
    n = numbers(ctx, ctx.token.project.id)
    absolute = {
        "maxTotalInstances": n["instances"][0], "totalInstancesUsed": n["instances"][1],
        "maxTotalCores": n["cores"][0], "totalCoresUsed": n["cores"][1],
        "maxTotalRAMSize": n["ram"][0], "totalRAMUsed": n["ram"][1],
        "maxServerMeta": n["metadata_items"][0], "maxTotalKeypairs": n["key_pairs"][0],
        "maxServerGroups": n["server_groups"][0],
        "maxServerGroupMembers": n["server_group_members"][0],
        "totalServerGroupsUsed": n["server_groups"][1],
    }
    mv = ctx.microversion or MIN_VERSION
    if mv < (2, 36):  # proxy APIs (networks, security groups) left the limits in 2.36
        absolute.update({"maxSecurityGroups": 10, "maxSecurityGroupRules": 20,
                         "maxTotalFloatingIps": 10, "totalFloatingIpsUsed": 0,
                         "totalSecurityGroupsUsed": 1})
    if mv < (2, 39):
        absolute["maxImageMeta"] = 128
    if mv < (2, 57):
        absolute.update({"maxPersonality": 5, "maxPersonalitySize": 10240})
    return Reply(200, {"limits": {"rate": [], "absolute": absolute}})


ROUTES = collect(globals())
