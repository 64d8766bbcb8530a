"""Nova's availability zones: the sandbox has one, "nova", like a default Nova."""

from __future__ import annotations

from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.inventory import ZONE

_PREFIX = "/compute/v2.1"


@route(f"{_PREFIX}/os-availability-zone", "GET", "compute", "availability_zones")
def availability_zones(ctx: Ctx) -> Reply:
    """GET /os-availability-zone: the zones a non-admin sees (no host details)."""
    return Reply(200, {"availabilityZoneInfo": [
        {"zoneName": ZONE, "zoneState": {"available": True}, "hosts": None}]})


ROUTES = collect(globals())
