"""Glance v2 and Neutron v2.0 of the sandbox over real HTTP: version documents, listing with
filters and pagination, show, each service's own error shape, and per-project visibility."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import requests

from probes.sandbox import Sandbox
from tests.conftest import Api, make_config

IMAGES = "/image/v2/images"
NETWORKS = "/networking/v2.0/networks"
SUBNETS = "/networking/v2.0/subnets"
PUBLIC_IMAGES = {"cirros-0.6.2-x86_64", "ubuntu-22.04"}


@pytest.fixture(scope="module")
def demo(shared: Sandbox) -> Api:
    """demo's client, scoped to project demo."""
    return Api(shared)


def client_for(sb: Sandbox, user: str, password: str, project: str) -> Api:
    """An Api whose token belongs to another user/project."""
    client = Api(sb)
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}}
    resp = requests.post(sb.auth_url + "/auth/tokens", json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    client.token = resp.headers["X-Subject-Token"]
    return client


def project_id(api: Api) -> str:
    """The project id of the client's token."""
    resp = requests.get(api.base + "/identity/v3/auth/tokens", timeout=10,
                        headers={"X-Auth-Token": api.token, "X-Subject-Token": api.token})
    return str(resp.json()["token"]["project"]["id"])


def image_names(api: Api, **params: Any) -> list[str]:
    resp = api.get(IMAGES, params=params)
    assert resp.status_code == 200, resp.text
    return sorted(i["name"] for i in resp.json()["images"])


def net_names(api: Api, path: str = NETWORKS, **params: Any) -> list[str]:
    resp = api.get(path, params=params)
    assert resp.status_code == 200, resp.text
    key = "networks" if path == NETWORKS else "subnets"
    return sorted(n["name"] for n in resp.json()[key])


# -- Glance ----------------------------------------------------------------------------------------
def test_glance_versions(shared: Sandbox) -> None:
    for path in ("/image", "/image/"):
        resp = requests.get(shared.base_url + path, timeout=10)
        assert resp.status_code == 300, path
        versions = resp.json()["versions"]
        ids = [v["id"] for v in versions]
        assert "v2.0" in ids and ids[0] == "v2.9"
        assert [v["status"] for v in versions].count("CURRENT") == 1
        assert versions[0]["links"][0]["href"] == shared.base_url + "/image/v2/"
    listed = requests.get(shared.base_url + "/image/versions", timeout=10)
    assert listed.status_code == 200
    assert listed.json()["versions"] == resp.json()["versions"]


def test_images_list_visibility_and_properties(demo: Api, shared: Sandbox) -> None:
    resp = demo.get(IMAGES)
    assert resp.status_code == 200
    body = resp.json()
    images = {i["name"]: i for i in body["images"]}
    assert set(images) == PUBLIC_IMAGES  # private-image is not demo's
    assert "next" not in body and body["first"] == "/v2/images"
    cirros, ubuntu = images["cirros-0.6.2-x86_64"], images["ubuntu-22.04"]
    # custom properties are top-level keys, as in Glance
    assert cirros["os_distro"] == "cirros" and cirros["os_version"] == "0.6.2"
    assert cirros["ad:appid"] == "egi.cirros.0.6"
    assert ubuntu["os_distro"] == "ubuntu" and ubuntu["ad:appid"] == "egi.ubuntu.22.04"
    assert "properties" not in cirros
    assert (cirros["status"], cirros["visibility"], cirros["min_disk"], cirros["min_ram"]) == \
        ("active", "public", 1, 64)
    assert (ubuntu["min_disk"], ubuntu["min_ram"], ubuntu["size"]) == (5, 512, 660_000_000)
    assert cirros["self"] == f"/v2/images/{cirros['id']}"
    # the private image belongs to an admin project, none of demo's user's projects
    assert shared.cloud is not None
    inventory = shared.cloud.inventory
    private = next(i for i in inventory.images.values() if i.spec.name == "private-image")
    assert private.spec.visibility == "private"
    demo_projects = {p["id"] for p in demo.get("/identity/v3/auth/projects").json()["projects"]}
    assert project_id(demo) in demo_projects
    assert private.owner not in demo_projects
    assert private.owner == cirros["owner"] == ubuntu["owner"]  # the admin project owns all
    shown = demo.get(f"{IMAGES}/{private.id}")
    assert shown.status_code == 404 and f"No image found with ID {private.id}" in shown.text
    assert image_names(demo, visibility="private") == []
    # nor does another project see it
    probe = client_for(shared, "probe", "sandbox-probe-pw", "ops.example.org")
    assert image_names(probe) == sorted(PUBLIC_IMAGES)


def test_image_filters(demo: Api) -> None:
    assert image_names(demo, name="ubuntu-22.04") == ["ubuntu-22.04"]
    assert image_names(demo, name="cirros") == []  # name is exact in Glance
    assert image_names(demo, status="active") == sorted(PUBLIC_IMAGES)
    assert image_names(demo, status="queued") == []
    assert image_names(demo, os_distro="ubuntu") == ["ubuntu-22.04"]
    assert image_names(demo, os_distro="cirros", os_version="0.6.2") == ["cirros-0.6.2-x86_64"]
    assert image_names(demo, os_distro="cirros", os_version="9") == []
    assert image_names(demo, **{"ad:appid": "egi.ubuntu.22.04"}) == ["ubuntu-22.04"]
    assert image_names(demo, visibility="public") == sorted(PUBLIC_IMAGES)
    assert image_names(demo, visibility="all") == sorted(PUBLIC_IMAGES)  # all it may see
    assert image_names(demo, visibility="community") == []
    assert image_names(demo, disk_format="qcow2", status="active") == sorted(PUBLIC_IMAGES)
    assert image_names(demo, disk_format="raw") == []


def test_image_pagination_walks_every_image_once(demo: Api) -> None:
    everything = [i["id"] for i in demo.get(IMAGES).json()["images"]]
    assert len(everything) == 2
    first = demo.get(IMAGES, params={"limit": 1})
    assert first.status_code == 200
    page = first.json()
    assert len(page["images"]) == 1 and "next" in page
    seen = [i["id"] for i in page["images"]]
    pages = 1
    while "next" in page:
        assert page["next"].startswith("/v2/images?")
        resp = demo.get("/image" + page["next"])
        assert resp.status_code == 200, resp.text
        page = resp.json()
        assert len(page["images"]) <= 1
        seen += [i["id"] for i in page["images"]]
        pages += 1
        assert pages <= 5, "pagination does not end"
    assert seen == everything  # same order, each once
    assert len(set(seen)) == len(seen)
    # a limit covering everything has no next; limit 0 gives an empty page
    assert "next" not in demo.get(IMAGES, params={"limit": 2}).json()
    assert demo.get(IMAGES, params={"limit": 0}).json()["images"] == []
    # the marker of the last image: nothing after it
    last = demo.get(IMAGES, params={"marker": everything[-1]}).json()
    assert last["images"] == [] and "next" not in last


def test_image_pagination_pages_of_two(sandbox_factory: Callable[..., Sandbox]) -> None:
    images = [{"name": f"img-{i}", "properties": {"os_distro": "cirros" if i % 2 else "ubuntu"}}
              for i in range(5)]
    demo = Api(sandbox_factory(make_config(images=images)))
    everything = [i["id"] for i in demo.get(IMAGES).json()["images"]]
    assert len(everything) == 5
    seen: list[str] = []
    pages = 0
    path = f"{IMAGES}?limit=2"
    while path:
        page = demo.get(path).json()
        assert len(page["images"]) == (2 if pages < 2 else 1)
        seen += [i["id"] for i in page["images"]]
        pages += 1
        assert pages <= 3, "pagination does not end"
        path = "/image" + page["next"] if "next" in page else ""
    assert seen == everything
    # filters and pagination together: Glance's next link keeps the query (filters and limit),
    # so following it walks the filtered list only
    page = demo.get(IMAGES, params={"os_distro": "cirros", "limit": 1}).json()
    distros, names = [], []
    while True:
        distros += [i["os_distro"] for i in page["images"]]
        names += [i["name"] for i in page["images"]]
        if "next" not in page:
            break
        assert "os_distro=cirros" in page["next"] and "limit=1" in page["next"]
        assert len(names) <= 2, "pagination does not end"
        page = demo.get("/image" + page["next"]).json()
    assert distros == ["cirros", "cirros"] and sorted(names) == ["img-1", "img-3"]


@pytest.mark.parametrize("params,message", [
    ({"marker": "00000000-0000-0000-0000-000000000000"}, "marker"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "many"}, "limit"),
])
def test_image_list_bad_params(demo: Api, params: dict[str, str], message: str) -> None:
    resp = demo.get(IMAGES, params=params)
    assert resp.status_code == 400
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert resp.text.startswith("400 Bad Request") and message in resp.text


def test_image_show_and_not_found(demo: Api) -> None:
    listed = {i["id"]: i for i in demo.get(IMAGES).json()["images"]}
    for image_id, doc in listed.items():
        resp = demo.get(f"{IMAGES}/{image_id}")
        assert resp.status_code == 200
        assert resp.json() == doc
    missing = demo.get(f"{IMAGES}/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.headers["Content-Type"].startswith("text/plain")
    assert missing.text.startswith("404 Not Found")
    assert "No image found with ID 00000000-0000-0000-0000-000000000000" in missing.text


@pytest.mark.parametrize("path", [IMAGES, f"{IMAGES}/anything"])
def test_glance_without_token(shared: Sandbox, path: str) -> None:
    for headers in ({}, {"X-Auth-Token": "not-a-token"}):
        resp = requests.get(shared.base_url + path, headers=headers, timeout=10)
        assert resp.status_code == 401
        assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{shared.auth_url}"'
        assert resp.text.startswith("401 Unauthorized")


# -- Neutron ---------------------------------------------------------------------------------------
def test_neutron_versions(shared: Sandbox) -> None:
    for path in ("/networking", "/networking/"):
        resp = requests.get(shared.base_url + path, timeout=10)
        assert resp.status_code == 200
        versions = resp.json()["versions"]
        assert [(v["id"], v["status"]) for v in versions] == [("v2.0", "CURRENT")]
        assert versions[0]["links"][0]["href"] == shared.base_url + "/networking/v2.0/"
    resp = requests.get(shared.base_url + "/networking/v2.0", timeout=10)
    assert resp.status_code == 200
    resources = {r["collection"]: r for r in resp.json()["resources"]}
    assert {"networks", "subnets"} <= set(resources)
    assert resources["networks"]["links"][0]["href"] == shared.base_url + NETWORKS


def test_networks_list(demo: Api) -> None:
    resp = demo.get(NETWORKS)
    assert resp.status_code == 200
    nets = {n["name"]: n for n in resp.json()["networks"]}
    assert set(nets) == {"demo-net", "shared-net", "public"}
    demo_net, shared_net, public = nets["demo-net"], nets["shared-net"], nets["public"]
    pid = project_id(demo)
    assert demo_net["project_id"] == pid and demo_net["tenant_id"] == pid
    assert demo_net["status"] == "ACTIVE" and demo_net["admin_state_up"] is True
    assert demo_net["shared"] is False and demo_net["router:external"] is False
    assert shared_net["shared"] is True and shared_net["project_id"] != pid
    assert public["router:external"] is True and public["subnets"] == []
    assert len(demo_net["subnets"]) == 2


def test_network_filters(demo: Api) -> None:
    assert net_names(demo, name="demo-net") == ["demo-net"]
    assert net_names(demo, name="nothing") == []
    assert net_names(demo, shared="true") == ["public", "shared-net"]
    assert net_names(demo, shared="false") == ["demo-net"]
    assert net_names(demo, shared=True) == ["public", "shared-net"]  # requests sends "True"
    assert net_names(demo, **{"router:external": "true"}) == ["public"]
    assert net_names(demo, **{"router:external": "false", "shared": "true"}) == ["shared-net"]
    assert net_names(demo, status="ACTIVE") == ["demo-net", "public", "shared-net"]
    assert net_names(demo, project_id=project_id(demo)) == ["demo-net"]
    assert net_names(demo, name=["demo-net", "public"]) == ["demo-net", "public"]  # any of


def test_network_fields(demo: Api) -> None:
    resp = demo.get(NETWORKS, params=[("fields", "id"), ("fields", "name")])
    assert resp.status_code == 200
    nets = resp.json()["networks"]
    assert len(nets) == 3
    assert all(set(n) == {"id", "name"} for n in nets)
    # fields and filters together
    only = demo.get(NETWORKS, params=[("fields", "id"), ("shared", "true")]).json()["networks"]
    assert len(only) == 2 and all(set(n) == {"id"} for n in only)


def test_network_show_and_not_found(demo: Api) -> None:
    listed = {n["id"]: n for n in demo.get(NETWORKS).json()["networks"]}
    for net_id, doc in listed.items():
        resp = demo.get(f"{NETWORKS}/{net_id}")
        assert resp.status_code == 200
        assert resp.json()["network"] == doc
    shown = demo.get(f"{NETWORKS}/{demo.network_id()}", params={"fields": "name"})
    assert shown.json() == {"network": {"name": "demo-net"}}
    missing = demo.get(f"{NETWORKS}/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    error = missing.json()["NeutronError"]
    assert error["type"] == "NetworkNotFound"
    assert error["message"] == "Network 00000000-0000-0000-0000-000000000000 could not be found."
    assert "detail" in error


def test_subnets(demo: Api) -> None:
    net_id = demo.network_id("demo-net")
    resp = demo.get(SUBNETS)
    assert resp.status_code == 200
    subnets = resp.json()["subnets"]
    mine = [s for s in subnets if s["network_id"] == net_id]
    assert sorted(s["ip_version"] for s in mine) == [4, 6]
    by_version = {s["ip_version"]: s for s in mine}
    assert by_version[4]["cidr"] == "198.51.100.0/25"
    assert by_version[4]["gateway_ip"] == "198.51.100.1"
    assert by_version[6]["cidr"] == "2001:db8:fed:1::/64"
    assert by_version[6]["ipv6_address_mode"] == "slaac"
    assert {s["id"] for s in mine} == set(demo.get(f"{NETWORKS}/{net_id}").json()["network"][
        "subnets"])
    # filters
    filtered = demo.get(SUBNETS, params={"network_id": net_id}).json()["subnets"]
    assert sorted(s["name"] for s in filtered) == ["demo-v4", "demo-v6"]
    assert net_names(demo, SUBNETS, ip_version=6) == ["demo-v6", "shared-v6"]
    assert net_names(demo, SUBNETS, network_id=net_id, ip_version=6) == ["demo-v6"]
    assert net_names(demo, SUBNETS, ip_version=4) == ["demo-v4", "shared-v4"]
    # show, and Neutron's 404
    sub = demo.get(f"{SUBNETS}/{by_version[6]['id']}")
    assert sub.status_code == 200 and sub.json()["subnet"] == by_version[6]
    missing = demo.get(f"{SUBNETS}/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404
    assert missing.json()["NeutronError"]["type"] == "SubnetNotFound"


def test_other_project_sees_shared_not_demo_net(demo: Api, shared: Sandbox) -> None:
    probe = client_for(shared, "probe", "sandbox-probe-pw", "ops.example.org")
    assert net_names(probe) == ["public", "shared-net"]
    demo_net = demo.network_id("demo-net")
    hidden = probe.get(f"{NETWORKS}/{demo_net}")
    assert hidden.status_code == 404
    assert hidden.json()["NeutronError"]["type"] == "NetworkNotFound"
    assert net_names(probe, name="demo-net") == []
    assert net_names(probe, SUBNETS) == ["shared-v4", "shared-v6"]
    assert probe.get(SUBNETS, params={"network_id": demo_net}).json()["subnets"] == []
    # demo's other project (vo.example.org) does not see it either
    vo = client_for(shared, "demo", "sandbox-demo-pw", "vo.example.org")
    assert net_names(vo) == ["public", "shared-net"]


@pytest.mark.parametrize("path", [NETWORKS, SUBNETS, f"{NETWORKS}/anything"])
def test_neutron_without_token(shared: Sandbox, path: str) -> None:
    resp = requests.get(shared.base_url + path, timeout=10)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{shared.auth_url}"'
    assert resp.json()["NeutronError"]["type"] == "Unauthorized"


def test_unscoped_token_is_refused(shared: Sandbox) -> None:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "domain": {"id": "default"}, "password": "sandbox-demo-pw"}}}}}
    token = requests.post(shared.auth_url + "/auth/tokens", json=body,
                          timeout=10).headers["X-Subject-Token"]
    for path in (IMAGES, NETWORKS):
        resp = requests.get(shared.base_url + path, headers={"X-Auth-Token": token}, timeout=10)
        assert resp.status_code == 403, path
