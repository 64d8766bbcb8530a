"""GET /os-quota-sets/{project}[/detail]: the same quota and usage numbers as /limits."""

from __future__ import annotations

from typing import Any

from probes.sandbox.api.errors import nova_error
from probes.sandbox.api.nova_servers import usage
from probes.sandbox.api.routes import Ctx, Reply, collect, route

_PREFIX = "/compute/v2.1"


def numbers(ctx: Ctx, project_id: str) -> dict[str, tuple[int, int]]:
    """{quota key: (limit, in_use)} of a project: what os-quota-sets and /limits both show."""
    instances, cores, ram = usage(ctx, project_id)
    quota = ctx.cloud.config.quota
    return {"instances": (quota.instances, instances), "cores": (quota.cores, cores),
            "ram": (quota.ram, ram), "metadata_items": (quota.metadata_items, 0),
            "key_pairs": (100, 0), "server_groups": (10, 0), "server_group_members": (10, 0)}


def _numbers(ctx: Ctx, project_id: str, action: str) -> dict[str, tuple[int, int]]:
    """numbers(); another project's quota only for an admin, as Nova's policy."""
    assert ctx.token is not None and ctx.token.project is not None
    if project_id != ctx.token.project.id and "admin" not in ctx.token.user.roles:
        raise nova_error(403, f"Policy doesn't allow os_compute_api:os-quota-sets:{action} "
                              "to be performed.")
    return numbers(ctx, project_id)


@route(f"{_PREFIX}/os-quota-sets/<project_id>", "GET", "compute", "quota_show")
def quota_show(ctx: Ctx, project_id: str) -> Reply:
    """The project's quota limits."""
    numbers = _numbers(ctx, project_id, "show")
    body: dict[str, Any] = {"id": project_id}
    body.update({k: limit for k, (limit, _) in numbers.items()})
    return Reply(200, {"quota_set": body})


@route(f"{_PREFIX}/os-quota-sets/<project_id>/detail", "GET", "compute", "quota_detail")
def quota_detail(ctx: Ctx, project_id: str) -> Reply:
    """The project's quota limits with usage."""
    numbers = _numbers(ctx, project_id, "detail")
    body: dict[str, Any] = {"id": project_id}
    body.update({k: {"limit": limit, "in_use": used, "reserved": 0}
                 for k, (limit, used) in numbers.items()})
    return Reply(200, {"quota_set": body})


ROUTES = collect(globals())
