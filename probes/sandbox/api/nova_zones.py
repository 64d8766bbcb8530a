"""Nova's availability zones: the sandbox has one, "nova", like a default Nova, and its
services run on one host (which only the admin-only detail view shows)."""

from __future__ import annotations

import datetime as dt
import time

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.routes import Ctx, Reply, collect, route
from probes.sandbox.inventory import ZONE

_PREFIX = "/compute/v2.1"
HOST = "sandbox-host"
_INTERNAL_ZONE = "internal"  # Nova's internal_service_availability_zone


@route(f"{_PREFIX}/os-availability-zone", "GET", "compute", "availability_zones")
def availability_zones(ctx: Ctx) -> Reply:
    """GET /os-availability-zone: the zones a non-admin sees (no host details)."""
    return Reply(200, {"availabilityZoneInfo": [
        {"zoneName": ZONE, "zoneState": {"available": True}, "hosts": None}]})


def _services(*binaries: str) -> dict[str, dict[str, object]]:
    # Nova's service records are datetimes serialised without a zone, with microseconds
    now = dt.datetime.fromtimestamp(time.time(), tz=dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")
    return {b: {"available": True, "active": True, "updated_at": now} for b in binaries}


@route(f"{_PREFIX}/os-availability-zone/detail", "GET", "compute", "availability_zones")
def availability_zones_detail(ctx: Ctx) -> Reply:
    """GET /os-availability-zone/detail: zones with their hosts and services, admin only in
    Nova's default policy (os_compute_api:os-availability-zone:detail is ADMIN); the internal
    zone holds the control services, as Nova's verbose listing does not hide it."""
    assert ctx.token is not None
    if "admin" not in ctx.token.user.roles:
        raise nova_error(403, "Policy doesn't allow os_compute_api:os-availability-zone:detail "
                              "to be performed.")
    return Reply(200, {"availabilityZoneInfo": [
        {"zoneName": _INTERNAL_ZONE, "zoneState": {"available": True},
         "hosts": {HOST: _services("nova-conductor", "nova-scheduler")}},
        {"zoneName": ZONE, "zoneState": {"available": True},
         "hosts": {HOST: _services("nova-compute")}}]})


ROUTES = collect(globals())
