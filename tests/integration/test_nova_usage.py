"""Nova answers the `openstack` CLI asks for beside servers (issue 18): key pairs and a
project's usage over a period (os-simple-tenant-usage), deleted servers included."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from probes.sandbox import Sandbox
from tests.conftest import Api

U = "/compute/v2.1/os-simple-tenant-usage"


def _iso(when: dt.datetime) -> str:
    return when.replace(tzinfo=None).isoformat()


def _project(api: Api) -> str:
    """The token's project id, as Keystone says."""
    resp = api.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": api.token})
    assert resp.status_code == 200, resp.text
    return str(resp.json()["token"]["project"]["id"])


def test_key_pairs_none_and_a_name_is_404(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = Api(sandbox_factory())
    assert api.get("/compute/v2.1/os-keypairs").json() == {"keypairs": []}
    missing = api.get("/compute/v2.1/os-keypairs/mykey")
    assert missing.status_code == 404
    assert missing.json()["itemNotFound"]["message"].startswith("Keypair mykey not found")


def test_usage_counts_live_and_deleted_servers_of_the_period(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    api = Api(sandbox_factory())
    project = _project(api)
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    assert api.get(f"{U}/{project}", params={"start": _iso(before - dt.timedelta(hours=1)),
                                             "end": _iso(before)}).json() == {"tenant_usage": {}}
    gone = api.create_server("used-then-deleted").json()["server"]["id"]
    api.wait_status(gone, "ACTIVE")
    assert api.delete(f"/compute/v2.1/servers/{gone}").status_code == 204
    api.wait_gone(gone)
    live = api.create_server("still-here").json()["server"]["id"]
    api.wait_status(live, "ACTIVE")
    resp = api.get(f"{U}/{project}", params={
        "start": _iso(before), "end": _iso(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))})
    assert resp.status_code == 200, resp.text
    usage = resp.json()["tenant_usage"]
    by_id = {u["instance_id"]: u for u in usage["server_usages"]}
    assert set(by_id) == {gone, live} and usage["tenant_id"] == project
    assert by_id[gone]["state"] == "terminated" and by_id[gone]["ended_at"] is not None
    assert by_id[live]["state"] == "active" and by_id[live]["ended_at"] is None
    assert by_id[live]["flavor"] == "c1.nano" or by_id[live]["vcpus"] >= 1
    assert usage["total_hours"] == sum(u["hours"] for u in by_id.values()) > 0
    assert usage["total_vcpus_usage"] == sum(u["hours"] * u["vcpus"] for u in by_id.values())


def test_usage_refuses_another_project_and_a_bad_period(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    api = Api(sandbox_factory())
    other = api.get(f"{U}/someone-else")
    assert other.status_code == 403
    assert "os-simple-tenant-usage:show" in other.json()["forbidden"]["message"]
    project = _project(api)
    assert api.get(f"{U}/{project}", params={"start": "yesterday"}).status_code == 400
    late = api.get(f"{U}/{project}", params={"start": "2030-01-02T00:00:00",
                                            "end": "2030-01-01T00:00:00"})
    assert late.status_code == 400 and "cannot occur after" in late.json()["badRequest"]["message"]
