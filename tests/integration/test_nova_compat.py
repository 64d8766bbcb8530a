"""Nova answers the sandbox must give like a real Nova (issue 18): network auto-selection and
availability zones in the create body, min_count/max_count, paging links, project ids in the
path, the proxy APIs below 2.36, the admin-only zone detail and quota reads."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from probes.sandbox import Sandbox
from probes.sandbox.api.app import ALL_ROUTES
from probes.sandbox.config import Identity, Network, Subnet, User
from tests.conftest import Api, make_config

S = "/compute/v2.1/servers"
V = "/compute/v2.1"


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


def _project(api: Api) -> str:
    return str(api.get("/identity/v3/auth/tokens", headers={"X-Subject-Token": api.token}
                       ).json()["token"]["project"]["id"])


def _names(api: Api) -> list[str]:
    return sorted(s["name"] for s in api.get(S).json()["servers"])


# -- min_count / max_count -------------------------------------------------------------------
def test_min_max_count(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = Api(sandbox_factory(make_config(quota={"instances": 7})))
    resp = api.create_server("multi", min_count=2, max_count=3)
    assert resp.status_code == 202, resp.text
    assert _names(api) == ["multi-1", "multi-2", "multi-3"]
    first = resp.json()["server"]["id"]
    assert api.server(first)["name"] == "multi-1"
    # return_reservation_id: the answer is the reservation only
    resp = api.create_server("resv", min_count="2", return_reservation_id=True)
    assert resp.status_code == 202, resp.text
    assert list(resp.json()) == ["reservation_id"]
    assert re.fullmatch(r"r-[0-9a-z]{8}", resp.json()["reservation_id"])
    assert [n for n in _names(api) if n.startswith("resv")] == ["resv-1", "resv-2"]
    # room for 2 of at most 4, at least 1: Nova makes the 2 it has room for
    assert api.create_server("fill", max_count=4).status_code == 202
    assert [n for n in _names(api) if n.startswith("fill")] == ["fill-1", "fill-2"]
    # full: Nova's 403, the range asked for in the message
    resp = api.create_server("over", min_count=2, max_count=3)
    assert resp.status_code == 403, resp.text
    assert resp.json()["forbidden"]["message"] == (
        "Quota exceeded for instances: Requested 2-3, but already used 7 of 7 instances")
    assert len(_names(api)) == 7


@pytest.mark.parametrize("extra,message", [
    ({"min_count": 0}, "0 is less than the minimum of 1"),
    ({"max_count": "two"}, "'two' does not match '^[0-9]*$'"),
    ({"min_count": 1.5}, "1.5 is not of type 'integer', 'string'"),
    ({"min_count": 3, "max_count": 2}, "min_count must be <= max_count"),
])
def test_bad_counts_are_400(api: Api, extra: dict[str, Any], message: str) -> None:
    before = _names(api)
    resp = api.create_server("bad", **extra)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["badRequest"]["message"]
    assert _names(api) == before


# -- paging ----------------------------------------------------------------------------------
def _follow(api: Api, path: str, key: str, params: dict[str, Any] | None = None
            ) -> list[dict[str, Any]]:
    answers = [api.get(path, params=params).json()]
    while answers[-1].get(f"{key}_links"):
        [link] = answers[-1][f"{key}_links"]
        assert link["rel"] == "next" and "marker=" in link["href"]
        answers.append(api.session.get(link["href"], headers=api.headers(), timeout=10).json())
        assert len(answers) < 10, "next links do not end"
    return answers


def test_full_pages_carry_a_next_link(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = Api(sandbox_factory(make_config(max_limit=2)))
    ids = [api.create_server(name).json()["server"]["id"] for name in ("p1", "p2")]
    # a full page links on even when nothing remains, as Nova does; the next page is empty
    answers = _follow(api, S, "servers", {"limit": 2})
    assert [len(a["servers"]) for a in answers] == [2, 0]
    assert f"marker={answers[0]['servers'][-1]['id']}" in answers[0]["servers_links"][0]["href"]
    assert sorted(s["id"] for s in answers[0]["servers"]) == sorted(ids)
    assert [len(a["servers"]) for a in _follow(api, S + "/detail", "servers")] == [2, 0]
    # flavors: 4 of them, pages of max_limit with or without limit
    for params in (None, {"limit": 2}, {"limit": 50}):
        answers = _follow(api, V + "/flavors", "flavors", params)
        assert [len(a["flavors"]) for a in answers] == [2, 2, 0]
        assert answers[0]["flavors_links"][0]["href"].startswith(
            f"{api.base}{V}/flavors?")
    seen = [f["id"] for a in _follow(api, V + "/flavors/detail", "flavors") for f in a["flavors"]]
    assert seen == ["1", "2", "3", "42"]


# -- project id in the path ------------------------------------------------------------------
def _fill(rule: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        assert match.group(1) in values, f"no test value for <{match.group(1)}> in {rule}"
        return values[match.group(1)]
    return re.sub(r"<(\w+)>", one, rule)


def test_every_compute_route_takes_the_project_in_the_path(api: Api) -> None:
    pid = _project(api)
    created = api.post(f"{V}/{pid}/servers", json={"server": {
        "name": "scoped", "imageRef": api.image_id(), "flavorRef": "42", "metadata": {"k": "v"},
        "tags": ["t1"], "networks": [{"uuid": api.network_id()}]}})
    assert created.status_code == 202, created.text
    sid = created.json()["server"]["id"]
    assert created.headers["Location"] == f"{api.base}{V}/{pid}/servers/{sid}"
    assert created.json()["server"]["links"][0]["href"] == f"{api.base}{V}/{pid}/servers/{sid}"
    doc = api.wait_status(sid, "ACTIVE")
    port = api.get(f"{S}/{sid}/os-interface").json()["interfaceAttachments"][0]["port_id"]
    values = {"server_id": sid, "flavor_id": "42", "image_id": api.image_id(),
              "project_id": pid, "label": next(iter(doc["addresses"])), "key": "k", "tag": "t1",
              "port_id": port, "volume_id": str(uuid.uuid4()), "name": "none"}
    api.microversion = "2.35"  # the proxy APIs too
    checked = 0
    for r in ALL_ROUTES:
        if r.service != "compute" or not r.auth or "GET" not in r.methods:
            continue
        path = _fill(r.rule, values)
        plain, scoped = api.get(path), api.get(path.replace(V, f"{V}/{pid}", 1))
        assert scoped.status_code == plain.status_code, (path, scoped.text)
        if plain.status_code == 404:  # the same "not found" (a metadata key), not "no route"
            assert scoped.json() == plain.json(), path
        checked += 1
    assert checked >= 25
    listed = api.get(f"{V}/{pid}/servers").json()["servers"]
    assert {link["href"] for s in listed if s["id"] == sid for link in s["links"]} == {
        f"{api.base}{V}/{pid}/servers/{sid}", f"{api.base}/compute/{pid}/servers/{sid}"}


def test_another_project_in_the_path_is_400(api: Api) -> None:
    pid = _project(api)
    other = uuid.uuid4().hex
    resp = api.get(f"{V}/{other}/servers")
    assert resp.status_code == 400, resp.text
    assert resp.json()["badRequest"]["message"] == (
        f"Malformed request URL: URL's project_id '{other}' doesn't match Context's "
        f"project_id '{pid}'")
    # Nova's route takes hex and dashes only: anything else is no route at all
    assert api.get(f"{V}/not-a-project/servers").status_code == 404


# -- proxy APIs below 2.36 -------------------------------------------------------------------
def test_image_proxy_until_2_35(api: Api) -> None:
    glance = {i["id"]: i for i in api.get("/image/v2/images").json()["images"]}
    api.microversion = "2.35"
    listed = api.get(f"{V}/images").json()
    assert {i["id"]: i["name"] for i in listed["images"]} == {
        k: v["name"] for k, v in glance.items()}
    detail = api.get(f"{V}/images/detail").json()["images"]
    assert {i["id"] for i in detail} == set(glance)
    for image in detail:
        want = glance[image["id"]]
        assert (image["minRam"], image["minDisk"], image["OS-EXT-IMG-SIZE:size"]) == (
            want["min_ram"], want["min_disk"], want["size"])
        assert image["status"] == "ACTIVE" and image["progress"] == 100
        assert image["metadata"]["os_distro"] == want["os_distro"]
        assert [link["rel"] for link in image["links"]] == ["self", "bookmark", "alternate"]
        assert api.get(f"{V}/images/{image['id']}").json() == {"image": image}
    page = api.get(f"{V}/images", params={"limit": 1}).json()
    assert len(page["images"]) == 1 and "marker=" in page["images_links"][0]["href"]
    missing = api.get(f"{V}/images/{uuid.uuid4()}")
    assert missing.status_code == 404 and missing.json()["itemNotFound"]["message"] == (
        "Image not found.")
    assert api.get(f"{V}/os-floating-ip-pools").json() == {
        "floating_ip_pools": [{"name": "public"}]}
    api.microversion = "2.36"  # removed with the other proxy APIs
    some = next(iter(glance))
    for path in ("/images", "/images/detail", f"/images/{some}", "/os-floating-ip-pools"):
        resp = api.get(V + path)
        assert resp.status_code == 404, path
        assert resp.json()["itemNotFound"]["message"] == "The resource could not be found."


@pytest.mark.parametrize("microversion", ["2.1", "2.36", "2.79"])
def test_interfaces_and_volume_attachments_stay(api: Api, microversion: str) -> None:
    sid = api.create_server("ports").json()["server"]["id"]
    doc = api.wait_status(sid, "ACTIVE")
    api.microversion = microversion
    resp = api.get(f"{S}/{sid}/os-interface")
    assert resp.status_code == 200, resp.text
    ports = resp.json()["interfaceAttachments"]
    addrs = [a for entries in doc["addresses"].values() for a in entries]
    assert sorted(ip["ip_address"] for p in ports for ip in p["fixed_ips"]) == sorted(
        a["addr"] for a in addrs)
    assert {p["mac_addr"] for p in ports} == {a["OS-EXT-IPS-MAC:mac_addr"] for a in addrs}
    assert [p["net_id"] for p in ports] == [api.network_id()]
    assert ("tag" in ports[0]) == (microversion == "2.79")
    one = api.get(f"{S}/{sid}/os-interface/{ports[0]['port_id']}")
    assert one.json() == {"interfaceAttachment": ports[0]}
    assert api.get(f"{S}/{sid}/os-interface/{uuid.uuid4()}").status_code == 404
    assert api.get(f"{S}/{sid}/os-volume_attachments").json() == {"volumeAttachments": []}
    volume = uuid.uuid4()
    resp = api.get(f"{S}/{sid}/os-volume_attachments/{volume}")
    assert resp.status_code == 404 and resp.json()["itemNotFound"]["message"] == (
        f"Instance {sid} is not attached to volume {volume}")
    assert api.get(f"{S}/{uuid.uuid4()}/os-interface").status_code == 404


# -- admin-only reads ------------------------------------------------------------------------
_ADMIN = User(name="admin", password="sandbox-admin-pw", projects=["demo"],
              roles=["admin", "member", "reader"])


@pytest.fixture(scope="module")
def admin_sb() -> Iterator[Sandbox]:
    """A sandbox whose identity also has an admin of the demo project."""
    sb = Sandbox(make_config(identity=Identity(users=[*Identity().users, _ADMIN]))).start()
    try:
        yield sb
    finally:
        sb.stop()


def _admin(sb: Sandbox) -> Api:
    api = Api(sb)
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": _ADMIN.password}}},
        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}
    resp = api.session.post(f"{api.base}/identity/v3/auth/tokens", json=body, timeout=10)
    assert resp.status_code == 201, resp.text
    api.token = resp.headers["X-Subject-Token"]
    return api


def test_availability_zone_detail_is_admin_only(admin_sb: Sandbox) -> None:
    resp = Api(admin_sb).get(f"{V}/os-availability-zone/detail")
    assert resp.status_code == 403, resp.text
    assert resp.json()["forbidden"]["message"] == (
        "Policy doesn't allow os_compute_api:os-availability-zone:detail to be performed.")
    zones = _admin(admin_sb).get(f"{V}/os-availability-zone/detail").json()
    by_name = {z["zoneName"]: z for z in zones["availabilityZoneInfo"]}
    assert set(by_name) == {"internal", "nova"}
    [(host, services)] = by_name["nova"]["hosts"].items()
    assert set(services) == {"nova-compute"} and services["nova-compute"]["available"] is True
    assert set(by_name["internal"]["hosts"][host]) == {"nova-conductor", "nova-scheduler"}


def test_admin_reads_another_projects_quota(admin_sb: Sandbox) -> None:
    member = Api(admin_sb)
    member.token = member.password_token({"project": {"name": "vo.example.org",
                                                      "domain": {"id": "default"}}})
    vo = _project(member)
    assert member.create_server("vo-vm", networks=[{"uuid": member.network_id("shared-net")}]
                                ).status_code == 202
    admin = _admin(admin_sb)
    assert vo != _project(admin)
    show = admin.get(f"{V}/os-quota-sets/{vo}")
    assert show.status_code == 200, show.text
    assert show.json()["quota_set"]["id"] == vo
    assert show.json()["quota_set"]["instances"] == admin_sb.config.quota.instances
    detail = admin.get(f"{V}/os-quota-sets/{vo}/detail").json()["quota_set"]
    assert detail["instances"]["in_use"] == 1 and detail["cores"]["in_use"] == 1
    assert admin.get(f"{V}/os-quota-sets/{_project(admin)}/detail").json()[
        "quota_set"]["instances"]["in_use"] == 0
    # a member of demo may not read vo.example.org's
    assert Api(admin_sb).get(f"{V}/os-quota-sets/{vo}").status_code == 403
