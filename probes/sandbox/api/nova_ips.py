"""GET /servers/{id}/ips[/{label}]: the server's addresses, as Nova's ips API shows them."""

from __future__ import annotations

from typing import Any

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.nova_render import addresses
from probes.sandbox.api.nova_servers import owned
from probes.sandbox.api.routes import Ctx, Reply, collect, route

_PREFIX = "/compute/v2.1"


def _basic(server_id: str, ctx: Ctx) -> dict[str, list[dict[str, Any]]]:
    # the ips API keeps only addr and version (no OS-EXT-IPS keys), unlike the server body
    return {label: [{"version": a["version"], "addr": a["addr"]} for a in entries]
            for label, entries in addresses(owned(ctx, server_id)).items()}


@route(f"{_PREFIX}/servers/<server_id>/ips", "GET", "compute", "ips")
def ips(ctx: Ctx, server_id: str) -> Reply:
    """All the server's addresses grouped by network label."""
    return Reply(200, {"addresses": _basic(server_id, ctx)})


@route(f"{_PREFIX}/servers/<server_id>/ips/<label>", "GET", "compute", "ips_network")
def ips_network(ctx: Ctx, server_id: str, label: str) -> Reply:
    """The server's addresses on one network."""
    found = _basic(server_id, ctx)
    if label not in found:
        raise nova_error(404, "Instance is not a member of specified network")
    return Reply(200, {label: found[label]})


ROUTES = collect(globals())
