"""Nova v2.1 behaviour: microversions, create validation with Nova's errors, listing filters and
pagination, metadata, tags, flavors and limits."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from probes.sandbox import Sandbox
from probes.sandbox.config import SandboxConfig, SandboxConfigError, parse_config
from tests.conftest import Api, make_config

S = "/compute/v2.1/servers"


@pytest.mark.parametrize("header,status,version", [
    ({}, 200, "2.1"),
    ({"OpenStack-API-Version": "compute 2.52"}, 200, "2.52"),
    ({"OpenStack-API-Version": "volume 3.0, compute 2.37"}, 200, "2.37"),
    ({"X-OpenStack-Nova-API-Version": "2.60"}, 200, "2.60"),
    ({"OpenStack-API-Version": "compute latest"}, 200, "2.79"),
    ({"OpenStack-API-Version": "compute 2.80"}, 406, None),
    ({"OpenStack-API-Version": "compute 3.0"}, 406, None),
    ({"OpenStack-API-Version": "compute two"}, 400, None),
])
def test_microversion_negotiation(api: Api, header: dict[str, str], status: int,
                                  version: str | None) -> None:
    resp = api.session.get(api.base + "/compute/v2.1/flavors", timeout=10,
                           headers={"X-Auth-Token": api.token, **header})
    assert resp.status_code == status, resp.text
    if version:
        assert resp.headers["OpenStack-API-Version"] == f"compute {version}"
        assert resp.headers["X-OpenStack-Nova-API-Version"] == version
        assert "OpenStack-API-Version" in resp.headers["Vary"]
    elif status == 406:
        assert "maximum is 2.79" in resp.json()["HTTPNotAcceptable"]["message"]


def test_no_token_is_401_with_keystone_challenge(api: Api) -> None:
    resp = api.session.get(api.base + S, timeout=10)
    assert resp.status_code == 401
    assert resp.json()["unauthorized"]["code"] == 401
    assert resp.headers["WWW-Authenticate"] == f'Keystone uri="{api.sb.auth_url}"'
    bad = api.session.get(api.base + S, headers={"X-Auth-Token": "nope"}, timeout=10)
    assert bad.status_code == 401


def test_version_documents(api: Api) -> None:
    root = api.session.get(api.base + "/compute/", timeout=10).json()
    current = next(v for v in root["versions"] if v["status"] == "CURRENT")
    assert (current["id"], current["min_version"], current["version"]) == ("v2.1", "2.1", "2.79")
    for path in ("/compute/v2.1", "/compute/v2.1/"):
        assert api.session.get(api.base + path, timeout=10).json()["version"]["id"] == "v2.1"


@pytest.mark.parametrize("change,status,message", [
    ({"flavorRef": None}, 400, "'flavorRef' is a required property"),
    ({"flavorRef": "999"}, 400, "Flavor 999 could not be found."),
    ({"imageRef": None}, 400, "Block Device Mapping is Invalid"),
    ({"imageRef": "not-a-uuid"}, 400, "Invalid imageRef provided."),
    ({"imageRef": "00000000-0000-0000-0000-000000000000"}, 400,
     "Image 00000000-0000-0000-0000-000000000000 could not be found."),
    ({"networks": None}, 400, "'networks' is a required property"),
    ({"networks": [{"uuid": "00000000-0000-0000-0000-000000000000"}]}, 400,
     "Network 00000000-0000-0000-0000-000000000000 could not be found."),
    ({"networks": [{"uuid": "x"}]}, 400, "network uuid is not in proper format"),
    ({"user_data": "%%%notbase64"}, 400, "user_data"),
    ({"bogus": 1}, 400, "Additional properties are not allowed ('bogus' was unexpected)"),
    ({"name": " padded"}, 400, "field/attribute name"),
    ({"metadata": {"k": 1}}, 400, "field/attribute metadata"),
    ({"tags": ["a/b"]}, 400, "Invalid tag"),
    ({"key_name": "mykey"}, 400, "Invalid key_name provided."),
    ({"flavorRef": "1", "imageRef": "ubuntu"}, 400, "Flavor's disk is too small"),
])
def test_create_validation(api: Api, change: dict[str, object], status: int,
                           message: str) -> None:
    server: dict[str, object] = {"name": "v", "imageRef": api.image_id(), "flavorRef": "42",
                                 "networks": [{"uuid": api.network_id()}]}
    if change.get("imageRef") == "ubuntu":
        change = {**change, "imageRef": api.image_id("ubuntu")}
    for key, value in change.items():
        if value is None:
            server.pop(key, None)
        else:
            server[key] = value
    resp = api.post(S, json={"server": server})
    assert resp.status_code == status, resp.text
    assert message in resp.json()["badRequest"]["message"]
    assert api.sb.live_servers() == []


def test_create_rules_follow_the_microversion(api: Api) -> None:
    api.microversion = "2.36"
    # before 2.37 networks may be left out: with two usable networks Nova cannot choose
    resp = api.post(S, json={"server": {"name": "old", "imageRef": api.image_id(),
                                        "flavorRef": "42"}})
    assert resp.status_code == 409 and "Multiple possible networks" in resp.text
    tagged = api.create_server("t", tags=["x"])
    assert tagged.status_code == 400 and "'tags' was unexpected" in tagged.text
    api.microversion = "2.52"
    assert api.create_server("t", tags=["x"]).status_code == 202
    assert api.create_server("n-none", networks="none").status_code == 202
    # "auto" with demo-net and shared-net both usable: Nova's 409 (tests/.../test_nova_compat.py)
    assert api.create_server("n-auto", networks="auto").status_code == 409
    api.microversion = "2.36"
    assert api.create_server("bad", networks="auto").status_code == 400


def test_create_answer_and_location(api: Api) -> None:
    resp = api.create_server("loc")
    assert resp.status_code == 202
    server = resp.json()["server"]
    assert resp.headers["Location"].endswith(f"{S}/{server['id']}")
    assert server["adminPass"] and server["OS-DCF:diskConfig"] == "MANUAL"
    doc = api.server(server["id"])
    assert doc["status"] in ("BUILD", "ACTIVE")
    assert doc["flavor"]["original_name"] == "c1.nano"  # 2.47+ embeds the flavor
    api.microversion = "2.46"
    assert api.server(server["id"])["flavor"]["id"] == "42"


def test_list_filters_and_pagination(api: Api) -> None:
    ids = {}
    for name, meta, tags in [("probe-a", {"fedprobe.host": "h1"}, ["fedprobe"]),
                             ("probe-b", {"fedprobe.host": "h2"}, ["fedprobe", "x"]),
                             ("user-vm", {}, [])]:
        ids[name] = api.create_server(name, metadata=meta, tags=tags).json()["server"]["id"]
    names = lambda resp: sorted(s["name"] for s in resp.json()["servers"])  # noqa: E731
    assert names(api.get(S, params={"name": "^probe-"})) == ["probe-a", "probe-b"]
    assert names(api.get(S + "/detail",
                         params={"metadata": json.dumps({"fedprobe.host": "h2"})})) == ["probe-b"]
    assert names(api.get(S, params={"tags": "fedprobe,x"})) == ["probe-b"]
    assert names(api.get(S, params={"tags-any": "x,fedprobe"})) == ["probe-a", "probe-b"]
    assert names(api.get(S, params={"not-tags": "fedprobe"})) == ["user-vm"]
    detail = api.get(S + "/detail", params={"name": "probe-a"}).json()["servers"][0]
    assert detail["metadata"]["fedprobe.host"] == "h1"
    seen: list[str] = []
    resp = api.get(S, params={"limit": 2})
    while True:
        seen += [s["id"] for s in resp.json()["servers"]]
        links = resp.json().get("servers_links")
        if not links:
            break
        resp = api.session.get(links[0]["href"], headers=api.headers(), timeout=10)
    assert sorted(seen) == sorted(ids.values())
    assert api.get(S, params={"marker": "nope"}).status_code == 400
    assert api.get(S, params={"name": "("}).status_code == 400


def test_other_projects_servers_are_invisible(api: Api) -> None:
    sid = api.create_server("mine").json()["server"]["id"]
    api.token = api.password_token({"project": {"name": "vo.example.org",
                                                "domain": {"id": "default"}}})
    assert api.get(f"{S}/{sid}").status_code == 404
    assert api.get(f"{S}/{sid}").json()["itemNotFound"]["message"] == \
        f"Instance {sid} could not be found."
    assert api.delete(f"{S}/{sid}").status_code == 404
    assert api.get(S).json()["servers"] == []


def test_metadata_api(api: Api) -> None:
    sid = api.create_server("meta", metadata={"a": "1"}).json()["server"]["id"]
    building = api.post(f"{S}/{sid}/metadata", json={"metadata": {"b": "2"}})
    assert building.status_code in (200, 409)  # 409 while BUILD, as in Nova
    api.wait_status(sid, "ACTIVE")
    assert api.post(f"{S}/{sid}/metadata", json={"metadata": {"b": "2"}}).json()["metadata"][
        "b"] == "2"
    replaced = api.put(f"{S}/{sid}/metadata", json={"metadata": {"c": "3"}}).json()["metadata"]
    assert replaced == {"c": "3"}
    assert api.put(f"{S}/{sid}/metadata/d", json={"meta": {"d": "4"}}).status_code == 200
    assert api.put(f"{S}/{sid}/metadata/d", json={"meta": {"e": "4"}}).status_code == 400
    assert api.get(f"{S}/{sid}/metadata/d").json() == {"meta": {"d": "4"}}
    assert api.delete(f"{S}/{sid}/metadata/d").status_code == 204
    assert api.get(f"{S}/{sid}/metadata/d").status_code == 404


def test_tags_api(api: Api) -> None:
    sid = api.create_server("tags", tags=["a"]).json()["server"]["id"]
    api.wait_status(sid, "ACTIVE")
    assert api.put(f"{S}/{sid}/tags/b").status_code == 201
    assert api.put(f"{S}/{sid}/tags/b").status_code == 204
    assert api.get(f"{S}/{sid}/tags").json()["tags"] == ["a", "b"]
    assert api.get(f"{S}/{sid}/tags/zz").status_code == 404
    assert api.delete(f"{S}/{sid}/tags/a").status_code == 204
    assert api.server(sid)["tags"] == ["b"]
    api.microversion = "2.25"
    assert api.get(f"{S}/{sid}/tags").status_code == 404


def test_console_rules(api: Api) -> None:
    api.sb.set_faults(latency={"boot": 1.0})
    sid = api.create_server("c", user_data="#!/bin/sh\nfor i in 1 2 3; do echo l$i; done\n")
    sid = sid.json()["server"]["id"]
    assert api.console(sid).status_code == 409  # still BUILD
    api.wait_status(sid, "ACTIVE")
    api.wait_console(sid, "l3")
    assert api.console(sid, 2).json()["output"].count("\n") == 2
    bad = api.post(f"{S}/{sid}/action", json={"os-getConsoleOutput": {"length": "x"}})
    assert bad.status_code == 400
    other = api.post(f"{S}/{sid}/action", json={"os-reboot": {}})
    assert other.status_code == 400 and "no such action" in other.text


def test_flavors(api: Api) -> None:
    flavors = api.get("/compute/v2.1/flavors/detail").json()["flavors"]
    assert [f["id"] for f in flavors] == sorted(f["id"] for f in flavors)
    big = api.get("/compute/v2.1/flavors/detail", params={"minDisk": 20, "minRam": 2048})
    assert sorted(f["name"] for f in big.json()["flavors"]) == ["m1.medium", "m1.small"]
    by_ram = api.get("/compute/v2.1/flavors/detail",
                     params={"sort_key": "memory_mb", "sort_dir": "desc"}).json()["flavors"]
    assert [f["ram"] for f in by_ram] == sorted((f["ram"] for f in by_ram), reverse=True)
    assert api.get("/compute/v2.1/flavors/detail", params={"minDisk": "x"}).status_code == 400
    assert api.get("/compute/v2.1/flavors/nope").json()["itemNotFound"]["code"] == 404
    assert api.get("/compute/v2.1/flavors/42/os-extra_specs").json() == {"extra_specs": {}}
    page = api.get("/compute/v2.1/flavors", params={"limit": 2, "marker": "1"}).json()
    assert [f["id"] for f in page["flavors"]] == ["2", "3"]


def test_limits_count_usage(api: Api) -> None:
    api.create_server("l1")
    absolute = api.get("/compute/v2.1/limits").json()["limits"]["absolute"]
    assert absolute["totalInstancesUsed"] == 1 and absolute["totalRAMUsed"] == 64


def test_unknown_paths_and_methods(api: Api) -> None:
    assert api.get("/compute/v2.1/nothing").json()["itemNotFound"]["code"] == 404
    resp = api.session.patch(api.base + S, headers=api.headers(), timeout=10)
    assert resp.status_code == 405 and "POST" in resp.headers["Allow"]


def test_ipv6_loopback_serves_the_same_cloud(api: Api) -> None:
    v6 = Api(api.sb, base=api.sb.base_url_v6)
    sid = v6.create_server("v6").json()["server"]["id"]
    assert sid in [s["id"] for s in api.get(S).json()["servers"]]
    assert v6.server(sid)["links"][0]["href"].startswith(api.sb.base_url_v6)


def test_next_link_keeps_the_filters(api: Api) -> None:
    for name in ("a1", "b1", "a2", "a3"):
        api.create_server(name)
    names: list[str] = []
    resp = api.get(S, params={"name": "^a", "limit": 1})
    while True:
        names += [s["name"] for s in resp.json()["servers"]]
        links = resp.json().get("servers_links")
        if not links:
            break
        assert "name=%5Ea" in links[0]["href"]
        resp = api.session.get(links[0]["href"], headers=api.headers(), timeout=10)
    assert names == ["a3", "a2", "a1"]


def _pages(api: Api, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """Every answer of a server list, following its next links."""
    answers = [api.get(path, params=params).json()]
    while answers[-1].get("servers_links"):
        [link] = answers[-1]["servers_links"]
        assert link["rel"] == "next" and "marker=" in link["href"]
        resp = api.session.get(link["href"], headers=api.headers(), timeout=10)
        assert resp.status_code == 200, resp.text
        answers.append(resp.json())
        assert len(answers) < 10, "next links do not end"
    return answers


def test_max_limit_caps_server_lists(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = Api(sandbox_factory(make_config(max_limit=2)))
    ids = [api.create_server(name).json()["server"]["id"]
           for name in ("x1", "x2", "y1", "x3", "x4")]
    for path in (S, S + "/detail"):
        # no limit: max_limit servers and a next link; following them gives each server once
        answers = _pages(api, path)
        assert [len(a["servers"]) for a in answers] == [2, 2, 1]
        assert "servers_links" in answers[0] and "servers_links" not in answers[-1]
        seen = [s["id"] for a in answers for s in a["servers"]]
        assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))
        # a limit above max_limit is capped (and kept in the next link)
        answers = _pages(api, path, {"limit": 10})
        assert [len(a["servers"]) for a in answers] == [2, 2, 1]
        assert "limit=10" in answers[0]["servers_links"][0]["href"]
        # a limit below max_limit still holds
        # (a full page always links a next one, as Nova's: the last is then empty)
        assert [len(a["servers"]) for a in _pages(api, path, {"limit": 1})] == [1] * 5 + [0]
        # the next link keeps the filters
        answers = _pages(api, path, {"name": "^x"})
        assert all("name=%5Ex" in a["servers_links"][0]["href"] for a in answers[:-1])
        assert [s["name"] for a in answers for s in a["servers"]] == ["x4", "x3", "x2", "x1"]
        assert [len(a["servers"]) for a in answers] == [2, 2, 0]


def test_max_limit_setting() -> None:
    assert SandboxConfig().max_limit == 1000
    assert parse_config({"max_limit": 1}).max_limit == 1
    for bad in (0, -5, "many"):
        with pytest.raises(SandboxConfigError, match=r"key 'max_limit' value .*: Input should"):
            parse_config({"max_limit": bad}, "sb.yaml")
