"""Nova answers the sandbox must give like a real Nova (issue 18): network auto-selection and
availability zones in the create body."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from probes.sandbox import Sandbox
from probes.sandbox.config import Network, Subnet
from tests.conftest import Api, make_config

S = "/compute/v2.1/servers"


@pytest.fixture(scope="module")
def api(shared: Sandbox) -> Api:
    """The default sandbox: demo-net (own) and shared-net are both usable by demo."""
    return Api(shared)


def _start(factory: Callable[..., Sandbox], networks: list[Network]) -> Api:
    return Api(factory(make_config(networks=networks)))


def test_auto_with_several_usable_networks_is_409(api: Api) -> None:
    resp = api.create_server("auto", networks="auto")
    assert resp.status_code == 409, resp.text
    assert resp.json()["conflictingRequest"]["message"] == (
        "Multiple possible networks found, use a Network ID to be more specific.")


def test_auto_uses_the_only_usable_network(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = _start(sandbox_factory, [
        Network(name="only-net", project="demo", subnets=[Subnet(name="v4",
                                                                 cidr="198.51.100.0/25")]),
        Network(name="public", shared=True, external=True)])
    resp = api.create_server("auto", networks="auto")
    assert resp.status_code == 202, resp.text
    server = api.wait_status(resp.json()["server"]["id"], "ACTIVE")
    assert list(server["addresses"]) == ["only-net"]


def test_auto_with_no_usable_network_is_400(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = _start(sandbox_factory, [Network(name="public", shared=True, external=True)])
    resp = api.create_server("auto", networks="auto")
    assert resp.status_code == 400, resp.text
    assert resp.json()["badRequest"]["message"].startswith(
        "Unable to automatically allocate a network for project ")


def test_unknown_availability_zone_is_400(api: Api) -> None:
    resp = api.create_server("az", availability_zone="elsewhere")
    assert resp.status_code == 400, resp.text
    assert resp.json()["badRequest"]["message"] == (
        "The requested availability zone is not available")
    assert api.create_server("az", availability_zone="nova").status_code == 202


def test_availability_zone_list(api: Api) -> None:
    resp = api.get("/compute/v2.1/os-availability-zone")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"availabilityZoneInfo": [
        {"zoneName": "nova", "zoneState": {"available": True}, "hosts": None}]}


def test_server_ips(api: Api) -> None:
    server_id = api.create_server("ips").json()["server"]["id"]
    doc = api.wait_status(server_id, "ACTIVE")
    want = {label: [{"version": a["version"], "addr": a["addr"]} for a in entries]
            for label, entries in doc["addresses"].items()}
    assert want, "the server has addresses"
    resp = api.get(f"{S}/{server_id}/ips")
    assert resp.status_code == 200 and resp.json() == {"addresses": want}
    label = next(iter(want))
    one = api.get(f"{S}/{server_id}/ips/{label}")
    assert one.status_code == 200 and one.json() == {label: want[label]}
    assert api.get(f"{S}/{server_id}/ips/nowhere").status_code == 404
    assert api.get(f"{S}/00000000-0000-4000-8000-000000000000/ips").status_code == 404
    other = Api(api.sb)
    other.token = other.password_token({"project": {"name": "vo.example.org",
                                                    "domain": {"id": "default"}}})
    assert other.get(f"{S}/{server_id}/ips").status_code == 404
    assert other.get(f"{S}/{server_id}/ips/{label}").status_code == 404


def test_quota_sets_match_the_limits(api: Api) -> None:
    assert api.create_server("q").status_code == 202
    project = api.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": api.token}
                      ).json()["token"]["project"]["id"]
    absolute = api.get("/compute/v2.1/limits").json()["limits"]["absolute"]
    show = api.get(f"/compute/v2.1/os-quota-sets/{project}")
    assert show.status_code == 200, show.text
    quota = show.json()["quota_set"]
    assert quota["id"] == project
    assert (quota["instances"], quota["cores"], quota["ram"]) == (
        absolute["maxTotalInstances"], absolute["maxTotalCores"], absolute["maxTotalRAMSize"])
    detail = api.get(f"/compute/v2.1/os-quota-sets/{project}/detail").json()["quota_set"]
    assert detail["instances"] == {"limit": absolute["maxTotalInstances"], "reserved": 0,
                                   "in_use": absolute["totalInstancesUsed"]}
    assert detail["cores"]["in_use"] == absolute["totalCoresUsed"] >= 1
    assert detail["ram"]["in_use"] == absolute["totalRAMUsed"]
    for path in ("", "/detail"):
        other = api.get(f"/compute/v2.1/os-quota-sets/not-{project}{path}")
        assert other.status_code == 403, other.text
        assert "Policy doesn't allow os_compute_api:os-quota-sets:" in other.text
