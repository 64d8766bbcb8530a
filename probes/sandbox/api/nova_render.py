"""Nova's microversion negotiation and its server/flavor documents, shaped per microversion.

The shapes follow the compute API reference and are checked in tests against Tempest's response
schemas for 2.1 and for the sandbox's maximum microversion.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.http import Ctx
from probes.sandbox.compute import Server
from probes.sandbox.inventory import ZONE, FlavorRec
from probes.sandbox.timefmt import iso_z

MIN_VERSION = (2, 1)
MAX_VERSION = (2, 79)
_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


def version_str(version: tuple[int, int]) -> str:
    """'2.79' from (2, 79)."""
    return f"{version[0]}.{version[1]}"


def _requested(ctx: Ctx) -> str | None:
    header = ctx.request.headers.get("OpenStack-API-Version")
    if header:
        for part in header.split(","):
            service, _, value = part.strip().partition(" ")
            if service.lower() == "compute":
                return value.strip()
    return ctx.request.headers.get("X-OpenStack-Nova-API-Version")


def negotiate(ctx: Ctx) -> tuple[int, int]:
    """The microversion a request asks for (2.1 when none; 400 malformed; 406 unsupported)."""
    wanted = _requested(ctx)
    if wanted is None or not wanted.strip():
        return MIN_VERSION
    wanted = wanted.strip()
    if wanted.lower() == "latest":
        return MAX_VERSION
    match = _VERSION_RE.match(wanted)
    if match is None:
        raise nova_error(400, f"API Version String {wanted} is of invalid format. Must be of "
                              "format MajorNum.MinorNum.")
    version = (int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise nova_error(406, f"Version {wanted} is not supported by the API. Minimum is "
                              f"{version_str(MIN_VERSION)} and maximum is "
                              f"{version_str(MAX_VERSION)}.")
    return version


def version_headers(version: tuple[int, int]) -> dict[str, str]:
    """The headers Nova adds to every versioned response."""
    v = version_str(version)
    return {"OpenStack-API-Version": f"compute {v}", "X-OpenStack-Nova-API-Version": v,
            "Vary": "OpenStack-API-Version, X-OpenStack-Nova-API-Version"}


def url_project(ctx: Ctx) -> str:
    """"/{project_id}" when the request's URL carries the token's project after the version
    (/compute/v2.1/{project_id}/servers, as old catalogs have it), else "": Nova's links keep
    what the client used."""
    project = ctx.token.project if ctx.token is not None else None
    if project is None:
        return ""
    prefix = f"/compute/v2.1/{project.id}"
    path = ctx.request.path
    return f"/{project.id}" if path == prefix or path.startswith(prefix + "/") else ""


def compute_url(ctx: Ctx) -> str:
    """The versioned compute endpoint (with the project id when the request had it)."""
    return f"{ctx.base_url}/compute/v2.1{url_project(ctx)}"


def links(ctx: Ctx, collection: str, item_id: str) -> list[dict[str, str]]:
    """self + bookmark links, as Nova gives them."""
    bookmark = f"{ctx.base_url}/compute{url_project(ctx)}/{collection}/{item_id}"
    return [{"rel": "self", "href": f"{compute_url(ctx)}/{collection}/{item_id}"},
            {"rel": "bookmark", "href": bookmark}]


def _nova_time(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    return iso_z(epoch).replace("Z", ".000000")


def addresses(server: Server) -> dict[str, list[dict[str, Any]]]:
    """The server's addresses grouped by network name."""
    guest = server.guest
    result: dict[str, list[dict[str, Any]]] = {}
    if guest is None:
        return result
    for a in guest.addresses:
        result.setdefault(a.network, []).append(
            {"version": a.version, "addr": a.addr, "OS-EXT-IPS:type": "fixed",
             "OS-EXT-IPS-MAC:mac_addr": a.mac})
    return result


def flavor_doc(ctx: Ctx, flavor: FlavorRec, detail: bool = True) -> dict[str, Any]:
    """A flavor as GET /flavors[/detail] shows it at the request's microversion."""
    mv = ctx.microversion or MIN_VERSION
    spec = flavor.spec
    doc: dict[str, Any] = {"id": flavor.id, "name": spec.name,
                           "links": links(ctx, "flavors", flavor.id)}
    if mv >= (2, 55):
        doc["description"] = None
    if not detail:
        return doc
    doc.update({"ram": spec.ram, "disk": spec.disk, "vcpus": spec.vcpus,
                "OS-FLV-EXT-DATA:ephemeral": spec.ephemeral,
                "swap": spec.swap if (spec.swap or mv >= (2, 75)) else "",
                "rxtx_factor": 1.0, "OS-FLV-DISABLED:disabled": False,
                "os-flavor-access:is_public": spec.is_public})
    if mv >= (2, 61):
        doc["extra_specs"] = {}
    return doc


def _flavor_of_server(ctx: Ctx, server: Server, mv: tuple[int, int]) -> dict[str, Any]:
    flavor = ctx.cloud.inventory.flavors.get(server.flavor_id)
    if mv < (2, 47):
        return {"id": server.flavor_id, "links": [links(ctx, "flavors", server.flavor_id)[1]]}
    if flavor is None:
        return {}
    spec = flavor.spec
    return {"vcpus": spec.vcpus, "ram": spec.ram, "disk": spec.disk, "ephemeral": spec.ephemeral,
            "swap": spec.swap, "original_name": spec.name, "extra_specs": {}}


_EXTENDED = ("key_name", "security_groups", "OS-SRV-USG:launched_at", "OS-SRV-USG:terminated_at",
             "OS-EXT-AZ:availability_zone", "OS-EXT-STS:task_state", "OS-EXT-STS:vm_state",
             "OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached", "config_drive")


def server_doc(ctx: Ctx, server: Server, *, view: str = "show") -> dict[str, Any]:
    """A server as GET /servers/{id} ("show"), /servers/detail ("detail") or the PUT answer
    ("update") gives it."""
    mv = ctx.microversion or MIN_VERSION
    host_id = hashlib.sha224(f"{server.project_id}sandbox-host".encode()).hexdigest()
    doc: dict[str, Any] = {
        "id": server.id, "name": server.name, "status": server.status,
        "tenant_id": server.project_id, "user_id": server.user_id,
        "metadata": dict(server.metadata), "hostId": host_id if server.guest else "",
        "image": {"id": server.image_id,
                  "links": [links(ctx, "images", server.image_id)[1]]},
        "flavor": _flavor_of_server(ctx, server, mv),
        "created": iso_z(server.created), "updated": iso_z(server.updated),
        "addresses": addresses(server), "accessIPv4": "", "accessIPv6": "",
        "links": links(ctx, "servers", server.id), "OS-DCF:diskConfig": "MANUAL",
        "key_name": server.key_name, "security_groups": [{"name": "default"}],
        "OS-SRV-USG:launched_at": _nova_time(server.launched_at),
        "OS-SRV-USG:terminated_at": None, "OS-EXT-AZ:availability_zone": ZONE,
        "OS-EXT-STS:task_state": server.task_state, "OS-EXT-STS:vm_state": server.vm_state,
        "OS-EXT-STS:power_state": server.power_state,
        "os-extended-volumes:volumes_attached": [],
        "config_drive": "True" if server.config_drive else "",
    }
    if server.status in ("ACTIVE", "BUILD"):
        doc["progress"] = 0
    if server.fault is not None and server.status in ("ERROR", "DELETED"):
        fault = dict(server.fault)
        fault["created"] = iso_z(float(str(fault["created"])))
        doc["fault"] = fault
    if mv >= (2, 9):
        doc["locked"] = False
    if mv >= (2, 19):
        doc["description"] = server.description
    if mv >= (2, 26):
        doc["tags"] = list(server.tags)
    if mv >= (2, 63):
        doc["trusted_image_certificates"] = None
    if mv >= (2, 71) and view != "detail":
        doc["server_groups"] = []
    if mv >= (2, 73):
        doc["locked_reason"] = None
    if view == "update" and mv < (2, 75):  # before 2.75 the PUT answer had no extended fields
        for key in _EXTENDED:
            doc.pop(key)
        for entries in doc["addresses"].values():
            for entry in entries:
                entry.pop("OS-EXT-IPS:type")
                entry.pop("OS-EXT-IPS-MAC:mac_addr")
    return doc
