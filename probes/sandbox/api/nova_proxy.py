"""Nova's network and volume views older clients call: os-floating-ip-pools (a proxy API, gone
at 2.36 like the images), and a server's os-interface and os-volume_attachments (both still in
Nova at every microversion: they are not proxies of a whole service)."""

from __future__ import annotations

import ipaddress
from typing import Any

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.nova_images import proxy_only
from probes.sandbox.api.nova_render import MIN_VERSION
from probes.sandbox.api.nova_servers import owned
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.compute import Server
from probes.sandbox.ids import stable_uuid
from probes.sandbox.inventory import NetworkRec

_PREFIX = "/compute/v2.1"


@route(f"{_PREFIX}/os-floating-ip-pools", "GET", "compute", "floating_ip_pools")
def floating_ip_pools(ctx: Ctx) -> Reply:
    """GET /os-floating-ip-pools: the external networks, by name (id when unnamed)."""
    proxy_only(ctx)
    pools = [{"name": n.name or n.id} for n in ctx.cloud.inventory.networks.values()
             if n.external]
    return Reply(200, {"floating_ip_pools": pools})


def _subnet_of(net: NetworkRec, addr: str, version: int) -> str | None:
    """The subnet holding the address; process guests use loopback addresses, which take the
    network's first subnet of their IP version."""
    ip = ipaddress.ip_address(addr)
    inside = [s for s in net.subnets if ip in ipaddress.ip_network(s.cidr)]
    same = inside or [s for s in net.subnets if s.ip_version == version]
    return same[0].id if same else None


def _ports(ctx: Ctx, server: Server) -> list[dict[str, Any]]:
    """One port per network the server has addresses on, as Neutron's port list shows them to
    Nova's attach_interfaces view (net_id, port_id, mac_addr, port_state, fixed_ips)."""
    guest = server.guest
    if guest is None:
        return []
    inv = ctx.cloud.inventory
    ports = []
    for net_id in server.network_ids:
        net = inv.networks.get(net_id)
        addrs = [a for a in guest.addresses if net is not None and a.network == net.name]
        if net is None or not addrs:
            continue
        fixed = [{"subnet_id": _subnet_of(net, a.addr, a.version), "ip_address": a.addr}
                 for a in addrs]
        port: dict[str, Any] = {
            "net_id": net.id, "port_id": stable_uuid("port", f"{server.id}/{net.id}"),
            "mac_addr": addrs[0].mac, "port_state": "ACTIVE", "fixed_ips": fixed}
        if (ctx.microversion or MIN_VERSION) >= (2, 70):
            port["tag"] = None
        ports.append(port)
    return ports


@route(f"{_PREFIX}/servers/<server_id>/os-interface", "GET", "compute", "interfaces")
def interfaces(ctx: Ctx, server_id: str) -> Reply:
    """GET /servers/{id}/os-interface."""
    server = owned(ctx, server_id)
    with ctx.cloud.servers.lock:
        return Reply(200, {"interfaceAttachments": _ports(ctx, server)})


@route(f"{_PREFIX}/servers/<server_id>/os-interface/<port_id>", "GET", "compute", "interfaces")
def interface(ctx: Ctx, server_id: str, port_id: str) -> Reply:
    """GET /servers/{id}/os-interface/{port_id}."""
    server = owned(ctx, server_id)
    with ctx.cloud.servers.lock:
        found = [p for p in _ports(ctx, server) if p["port_id"] == port_id]
    if not found:
        raise nova_error(404, f"Port {port_id} could not be found.")
    return Reply(200, {"interfaceAttachment": found[0]})


@route(f"{_PREFIX}/servers/<server_id>/os-volume_attachments", "GET", "compute", "volumes")
def volume_attachments(ctx: Ctx, server_id: str) -> Reply:
    """GET /servers/{id}/os-volume_attachments: sandbox servers boot from their image only."""
    owned(ctx, server_id)
    return Reply(200, {"volumeAttachments": []})


@route(f"{_PREFIX}/servers/<server_id>/os-volume_attachments/<volume_id>", "GET", "compute",
       "volumes")
def volume_attachment(ctx: Ctx, server_id: str, volume_id: str) -> Reply:
    """GET /servers/{id}/os-volume_attachments/{volume_id}: never attached."""
    owned(ctx, server_id)
    raise nova_error(404, f"Instance {server_id} is not attached to volume {volume_id}")


ROUTES = collect(globals())
