"""Glance v2 and Neutron v2.0 over real HTTP: discovery, listing with filters and pagination,
show, errors in each service's own shape, and per-project visibility."""

from __future__ import annotations

import requests

from tests.conftest import Api

PROBE_SCOPE = {"project": {"name": "ops.example.org", "domain": {"id": "default"}}}


def test_glance_versions(api: Api) -> None:
    resp = requests.get(api.base + "/image", timeout=10)
    assert resp.status_code == 300
    assert "v2.0" in {v["id"] for v in resp.json()["versions"]}


def test_images_visibility_and_properties(api: Api) -> None:
    images = {i["name"]: i for i in api.get("/image/v2/images").json()["images"]}
    assert set(images) == {"cirros-0.6.2-x86_64", "ubuntu-22.04"}  # private-image is not ours
    cirros = images["cirros-0.6.2-x86_64"]
    assert cirros["os_distro"] == "cirros" and cirros["ad:appid"] == "egi.cirros.0.6"
    assert (cirros["min_disk"], cirros["min_ram"], cirros["status"]) == (1, 64, "active")
    shown = api.get(f"/image/v2/images/{cirros['id']}").json()
    assert shown["id"] == cirros["id"] and shown["os_version"] == "0.6.2"


def test_image_filters(api: Api) -> None:
    def names(**params: str) -> list[str]:
        return sorted(i["name"] for i in api.get("/image/v2/images",
                                                 params=params).json()["images"])

    assert names(name="ubuntu-22.04") == ["ubuntu-22.04"]
    assert names(status="active") == ["cirros-0.6.2-x86_64", "ubuntu-22.04"]
    assert names(os_distro="ubuntu") == ["ubuntu-22.04"]
    assert names(name="nothing") == []


def test_image_pagination_walks_everything_once(api: Api) -> None:
    seen: list[str] = []
    page = api.get("/image/v2/images", params={"limit": 1}).json()
    while True:
        seen += [i["id"] for i in page["images"]]
        if "next" not in page:
            break
        page = api.get("/image" + page["next"]).json()
    assert len(seen) == 2 and len(set(seen)) == 2
    assert api.get("/image/v2/images", params={"marker": "nope"}).status_code == 400
    assert api.get("/image/v2/images", params={"limit": "-1"}).status_code == 400


def test_image_errors(api: Api) -> None:
    missing = api.get("/image/v2/images/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.headers["Content-Type"].startswith("text/")
    assert "No image found" in missing.text
    anon = requests.get(api.base + "/image/v2/images", timeout=10)
    assert anon.status_code == 401
    assert anon.headers["WWW-Authenticate"] == f'Keystone uri="{api.sb.auth_url}"'


def test_neutron_versions(api: Api) -> None:
    root = requests.get(api.base + "/networking", timeout=10).json()
    assert root["versions"][0]["id"] == "v2.0"
    resources = requests.get(api.base + "/networking/v2.0", timeout=10).json()["resources"]
    assert {r["collection"] for r in resources} == {"networks", "subnets"}


def test_networks_and_filters(api: Api) -> None:
    token = requests.get(api.sb.auth_url + "/auth/tokens", timeout=10, headers={
        "X-Auth-Token": api.token, "X-Subject-Token": api.token}).json()["token"]
    nets = {n["name"]: n for n in api.get("/networking/v2.0/networks").json()["networks"]}
    assert set(nets) == {"demo-net", "shared-net", "public"}
    assert nets["demo-net"]["project_id"] == token["project"]["id"]
    assert nets["demo-net"]["status"] == "ACTIVE" and not nets["demo-net"]["shared"]
    assert nets["shared-net"]["shared"] and nets["public"]["router:external"]

    def names(params: dict[str, str] | list[tuple[str, str]]) -> list[str]:
        found = api.get("/networking/v2.0/networks", params=params).json()["networks"]
        return sorted(n.get("name", "?") for n in found)

    assert names({"name": "demo-net"}) == ["demo-net"]
    assert names({"shared": "true"}) == ["public", "shared-net"]
    assert names({"router:external": "true"}) == ["public"]
    only = api.get("/networking/v2.0/networks",
                   params=[("fields", "id"), ("fields", "name")]).json()["networks"]
    assert all(set(n) == {"id", "name"} for n in only)
    shown = api.get(f"/networking/v2.0/networks/{nets['demo-net']['id']}").json()["network"]
    assert shown["subnets"] == nets["demo-net"]["subnets"]
    missing = api.get("/networking/v2.0/networks/nope")
    assert missing.status_code == 404
    assert missing.json()["NeutronError"]["type"] == "NetworkNotFound"


def test_subnets(api: Api) -> None:
    net = api.network_id("demo-net")
    subnets = api.get("/networking/v2.0/subnets", params={"network_id": net}).json()["subnets"]
    assert sorted(s["ip_version"] for s in subnets) == [4, 6]
    v6 = api.get("/networking/v2.0/subnets",
                 params={"network_id": net, "ip_version": "6"}).json()["subnets"]
    assert [s["cidr"] for s in v6] == ["2001:db8:fed:1::/64"]
    assert api.get(f"/networking/v2.0/subnets/{v6[0]['id']}").json()["subnet"]["gateway_ip"] \
        == "2001:db8:fed:1::1"
    assert api.get("/networking/v2.0/subnets/nope").json()["NeutronError"]["type"] == \
        "SubnetNotFound"


def test_another_project_sees_only_shared_networks(api: Api) -> None:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "probe", "domain": {"id": "default"}, "password": "sandbox-probe-pw"}}},
        "scope": PROBE_SCOPE}}
    resp = requests.post(api.sb.auth_url + "/auth/tokens", json=body, timeout=10)
    api.token = resp.headers["X-Subject-Token"]
    names = {n["name"] for n in api.get("/networking/v2.0/networks").json()["networks"]}
    assert names == {"shared-net", "public"}
