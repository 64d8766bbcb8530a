"""Neutron v2.0: version documents, networks and subnets (list with filters, show), each
project's default security group, availability zones and quotas."""

from __future__ import annotations

from typing import Any

from probes.sandbox.api.errors import neutron_error
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.ids import stable_uuid
from probes.sandbox.inventory import ZONE, NetworkRec, SubnetRec

_PREFIX = "/networking/v2.0"
_CREATED = "2026-01-01T00:00:00Z"


@route("/networking", "GET", "network", "versions", auth=False)
def versions(ctx: Ctx) -> Reply:
    """GET /networking/: the one version Neutron has."""
    return Reply(200, {"versions": [{"id": "v2.0", "status": "CURRENT", "links": [
        {"rel": "self", "href": f"{ctx.base_url}/networking/v2.0/"}]}]})


@route(_PREFIX, "GET", "network", "versions", auth=False)
def version(ctx: Ctx) -> Reply:
    """GET /networking/v2.0: the resources Neutron offers."""
    names = ("network", "subnet", "security_group", "security_group_rule", "availability_zone",
             "quota")
    return Reply(200, {"resources": [
        {"name": n, "collection": n + "s",
         "links": [{"rel": "self", "href": f"{ctx.base_url}{_PREFIX}/{n}s"}]} for n in names]})


def network_doc(net: NetworkRec) -> dict[str, Any]:
    """A network as Neutron shows it."""
    return {"id": net.id, "name": net.name, "status": net.status, "admin_state_up": True,
            "shared": net.shared, "router:external": net.external,
            "project_id": net.project_id, "tenant_id": net.project_id,
            "subnets": [s.id for s in net.subnets], "mtu": 1450, "availability_zones": [ZONE],
            "availability_zone_hints": [], "ipv4_address_scope": None,
            "ipv6_address_scope": None, "port_security_enabled": True, "description": "",
            "tags": [], "created_at": _CREATED, "updated_at": _CREATED, "revision_number": 1,
            "is_default": net.external, "l2_adjacency": True}


def subnet_doc(sub: SubnetRec) -> dict[str, Any]:
    """A subnet as Neutron shows it."""
    six = sub.ip_version == 6
    return {"id": sub.id, "name": sub.name, "network_id": sub.network_id, "cidr": sub.cidr,
            "ip_version": sub.ip_version, "gateway_ip": sub.gateway_ip, "enable_dhcp": True,
            "project_id": sub.project_id, "tenant_id": sub.project_id,
            "allocation_pools": [], "dns_nameservers": [], "host_routes": [],
            "ipv6_ra_mode": "slaac" if six else None,
            "ipv6_address_mode": "slaac" if six else None, "subnetpool_id": None,
            "service_types": [], "description": "", "tags": [], "created_at": _CREATED,
            "updated_at": _CREATED, "revision_number": 0}


def _matches(ctx: Ctx, doc: dict[str, Any]) -> bool:
    for key in ctx.request.args:
        if key in ("fields", "limit", "marker", "sort_key", "sort_dir"):
            continue
        wanted = ctx.request.args.getlist(key)
        value = doc.get(key)
        if isinstance(value, bool):  # Neutron converts "True"/"true" alike (requests sends True)
            shown, wanted = str(value).lower(), [w.lower() for w in wanted]
        else:
            shown = str(value)
        if shown not in wanted:
            return False
    return True


def _fields(ctx: Ctx, doc: dict[str, Any]) -> dict[str, Any]:
    fields = ctx.request.args.getlist("fields")
    return {k: v for k, v in doc.items() if k in fields} if fields else doc


def _visible_networks(ctx: Ctx) -> list[NetworkRec]:
    assert ctx.token is not None and ctx.token.project is not None
    pid = ctx.token.project.id
    return [n for n in ctx.cloud.inventory.networks.values() if n.usable_by(pid)]


@route(f"{_PREFIX}/networks", "GET", "network", "networks")
def networks(ctx: Ctx) -> Reply:
    """GET /v2.0/networks with attribute filters (name, status, shared, router:external...)."""
    docs = [network_doc(n) for n in _visible_networks(ctx)]
    return Reply(200, {"networks": [_fields(ctx, d) for d in docs if _matches(ctx, d)]})


@route(f"{_PREFIX}/networks/<net_id>", "GET", "network", "networks")
def network_show(ctx: Ctx, net_id: str) -> Reply:
    """GET /v2.0/networks/{id}."""
    for net in _visible_networks(ctx):
        if net.id == net_id:
            return Reply(200, {"network": _fields(ctx, network_doc(net))})
    raise neutron_error(404, "NetworkNotFound", f"Network {net_id} could not be found.")


@route(f"{_PREFIX}/subnets", "GET", "network", "subnets")
def subnets(ctx: Ctx) -> Reply:
    """GET /v2.0/subnets with filters (network_id, ip_version, ...)."""
    docs = [subnet_doc(s) for n in _visible_networks(ctx) for s in n.subnets]
    return Reply(200, {"subnets": [_fields(ctx, d) for d in docs if _matches(ctx, d)]})


@route(f"{_PREFIX}/subnets/<subnet_id>", "GET", "network", "subnets")
def subnet_show(ctx: Ctx, subnet_id: str) -> Reply:
    """GET /v2.0/subnets/{id}."""
    for net in _visible_networks(ctx):
        for sub in net.subnets:
            if sub.id == subnet_id:
                return Reply(200, {"subnet": _fields(ctx, subnet_doc(sub))})
    raise neutron_error(404, "SubnetNotFound", f"Subnet {subnet_id} could not be found.")


def _default_group(project_id: str) -> dict[str, Any]:
    """The "default" security group Neutron makes for every project: all egress, and ingress
    from members of the group, for IPv4 and IPv6."""
    sg_id = stable_uuid("security-group", project_id)
    common: dict[str, Any] = {"security_group_id": sg_id, "protocol": None, "port_range_min": None,
              "port_range_max": None, "remote_ip_prefix": None, "remote_address_group_id": None,
              "normalized_cidr": None, "description": "", "project_id": project_id,
              "tenant_id": project_id, "belongs_to_default_sg": True, "tags": [],
              "created_at": _CREATED, "updated_at": _CREATED, "revision_number": 0}
    rules = [{**common, "id": stable_uuid("security-group-rule", f"{project_id}:{d}:{e}"),
              "direction": d, "ethertype": e,
              "remote_group_id": sg_id if d == "ingress" else None}
             for d in ("egress", "ingress") for e in ("IPv4", "IPv6")]
    return {"id": sg_id, "name": "default", "description": "Default security group",
            "project_id": project_id, "tenant_id": project_id, "stateful": True,
            "shared": False, "security_group_rules": rules, "tags": [],
            "created_at": _CREATED, "updated_at": _CREATED, "revision_number": 1}


def _groups(ctx: Ctx) -> list[dict[str, Any]]:
    assert ctx.token is not None and ctx.token.project is not None
    return [_default_group(ctx.token.project.id)]


@route(f"{_PREFIX}/security-groups", "GET", "network", "security_groups")
def security_groups(ctx: Ctx) -> Reply:
    """GET /v2.0/security-groups: the project's default group."""
    docs = [d for d in _groups(ctx) if _matches(ctx, d)]
    return Reply(200, {"security_groups": [_fields(ctx, d) for d in docs]})


@route(f"{_PREFIX}/security-groups/<sg_id>", "GET", "network", "security_groups")
def security_group_show(ctx: Ctx, sg_id: str) -> Reply:
    """GET /v2.0/security-groups/{id}."""
    for doc in _groups(ctx):
        if doc["id"] == sg_id:
            return Reply(200, {"security_group": _fields(ctx, doc)})
    raise neutron_error(404, "SecurityGroupNotFound", f"Security group {sg_id} does not exist")


@route(f"{_PREFIX}/security-group-rules", "GET", "network", "security_groups")
def security_group_rules(ctx: Ctx) -> Reply:
    """GET /v2.0/security-group-rules with filters (security_group_id, direction...)."""
    docs = [r for g in _groups(ctx) for r in g["security_group_rules"] if _matches(ctx, r)]
    return Reply(200, {"security_group_rules": [_fields(ctx, d) for d in docs]})


@route(f"{_PREFIX}/availability_zones", "GET", "network", "availability_zones")
def availability_zones(ctx: Ctx) -> Reply:
    """GET /v2.0/availability_zones: the one zone, for networks and routers."""
    docs = [{"name": ZONE, "resource": r, "state": "available"} for r in ("network", "router")]
    return Reply(200, {"availability_zones": [_fields(ctx, d) for d in docs
                                              if _matches(ctx, d)]})


# The extensions whose resources and attributes the sandbox serves (clients such as the
# `openstack` CLI ask before calling them): alias -> name.
_EXTENSIONS = {"external-net": "Neutron external network", "net-mtu": "Network MTU",
               "project-id": "project_id field enabled", "security-group": "security-group",
               "availability_zone": "Availability Zone",
               "network_availability_zone": "Network Availability Zone",
               "quotas": "Quota management support", "quota_details": "Quota details"}


def _extension_doc(alias: str) -> dict[str, Any]:
    return {"alias": alias, "name": _EXTENSIONS[alias], "description": _EXTENSIONS[alias],
            "updated": "2013-02-03T10:00:00-00:00", "links": []}


@route(f"{_PREFIX}/extensions", "GET", "network", "versions")
def extensions(ctx: Ctx) -> Reply:
    """GET /v2.0/extensions."""
    return Reply(200, {"extensions": [_extension_doc(a) for a in _EXTENSIONS]})


@route(f"{_PREFIX}/extensions/<alias>", "GET", "network", "versions")
def extension_show(ctx: Ctx, alias: str) -> Reply:
    """GET /v2.0/extensions/{alias}: 404 for one the sandbox does not serve."""
    if alias not in _EXTENSIONS:
        raise neutron_error(404, "HTTPNotFound", f"Extension with alias {alias} does not exist")
    return Reply(200, {"extension": _extension_doc(alias)})


# Neutron's default quotas ([quotas] in neutron.conf); -1 would be unlimited.
_QUOTA_LIMITS = {"network": 100, "subnet": 100, "subnetpool": -1, "port": 500, "router": 10,
                 "floatingip": 50, "security_group": 10, "security_group_rule": 100,
                 "rbac_policy": 10, "trunk": -1}


def _quota_project(ctx: Ctx, project_id: str) -> str:
    """The project asked for, if the token may see its quota (a non-admin: only its own)."""
    assert ctx.token is not None and ctx.token.project is not None
    if project_id != ctx.token.project.id and "admin" not in ctx.token.user.roles:
        raise neutron_error(403, "HTTPForbidden", "Non-admin is not authorized to access "
                                                  "quotas for another project")
    return project_id


def _used(ctx: Ctx, project_id: str) -> dict[str, int]:
    """What the sandbox models of a project's usage: its networks, subnets and ports (one per
    server); the rest it has none of."""
    nets = [n for n in ctx.cloud.inventory.networks.values() if n.project_id == project_id]
    used = dict.fromkeys(_QUOTA_LIMITS, 0)
    used["network"] = len(nets)
    used["subnet"] = sum(len(n.subnets) for n in nets)
    used["port"] = ctx.cloud.servers.count_for(project_id)
    return used


@route(f"{_PREFIX}/quotas/<project_id>", "GET", "network", "quotas")
def quota_show(ctx: Ctx, project_id: str) -> Reply:
    """GET /v2.0/quotas/{project_id} (`openstack quota show` asks it)."""
    _quota_project(ctx, project_id)
    return Reply(200, {"quota": dict(_QUOTA_LIMITS)})


@route(f"{_PREFIX}/quotas/<project_id>/default", "GET", "network", "quotas")
def quota_default(ctx: Ctx, project_id: str) -> Reply:
    """GET /v2.0/quotas/{project_id}/default: the defaults (the sandbox sets no other)."""
    _quota_project(ctx, project_id)
    return Reply(200, {"quota": dict(_QUOTA_LIMITS)})


@route(f"{_PREFIX}/quotas/<project_id>/details", "GET", "network", "quotas")
def quota_details(ctx: Ctx, project_id: str) -> Reply:
    """GET /v2.0/quotas/{project_id}/details: limit, used and reserved per resource."""
    used = _used(ctx, _quota_project(ctx, project_id))
    return Reply(200, {"quota": {k: {"limit": v, "used": used[k], "reserved": 0}
                                 for k, v in _QUOTA_LIMITS.items()}})


ROUTES = collect(globals())
