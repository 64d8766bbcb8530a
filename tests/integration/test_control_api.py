"""The sandbox's control API (/control/*, its own token) and the Python API equivalents: the
request log, the live servers of every project and the faults in force."""

from __future__ import annotations

import time
from typing import Any

import pytest
import requests

from probes.sandbox import Sandbox
from probes.sandbox.faults import Faults
from tests.conftest import Api

S = "/compute/v2.1/servers"
GUARDED = [("GET", "/requests"), ("DELETE", "/requests"), ("GET", "/servers"),
           ("GET", "/faults"), ("PUT", "/faults"), ("PATCH", "/faults")]


def ctl(sb: Sandbox, method: str, path: str, token: str | None = None,
        **kw: Any) -> requests.Response:
    """A control API request, with the sandbox's control token unless another is given."""
    headers = {"X-Control-Token": sb.control_token if token is None else token}
    if token == "":
        headers = {}
    return requests.request(method, f"{sb.base_url}/control{path}", headers=headers,
                            timeout=10, **kw)


def cleanup(api: Api, *server_ids: str) -> None:
    for sid in server_ids:
        assert api.delete(f"{S}/{sid}").status_code == 204
    for sid in server_ids:
        api.wait_gone(sid)
    assert not {s["id"] for s in api.sb.live_servers()} & set(server_ids)


def boot(api: Api, name: str, **extra: Any) -> str:
    resp = api.create_server(name, **extra)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["server"]["id"])


# -- authentication -----------------------------------------------------------------------------
def test_health_needs_no_token(sandbox: Sandbox) -> None:
    for token in ("", "wrong", None):
        resp = ctl(sandbox, "GET", "/health", token=token)
        assert resp.status_code == 200 and resp.json() == {"status": "ok"}


@pytest.mark.parametrize("method,path", GUARDED)
def test_control_token_required(api: Api, method: str, path: str) -> None:
    sb = api.sb
    sb.set_faults(stuck_build=True)
    body = {"json": {"stuck_build": False}} if method in ("PUT", "PATCH") else {}
    for token in ("", "wrong", sb.control_token + "x", api.token):  # a Keystone token is not it
        resp = ctl(sb, method, path, token=token, **body)
        assert resp.status_code == 401, (method, path, token)
        assert "X-Control-Token" in resp.json()["error"]
    # nothing was changed by the refused calls
    assert ctl(sb, "GET", "/faults").json()["faults"]["stuck_build"] is True
    # and with the token it works
    assert ctl(sb, method, path, **body).status_code in (200, 204)


# -- request log -------------------------------------------------------------------------------
def test_request_log(api: Api) -> None:
    sb = api.sb
    assert api.get("/compute/v2.1/flavors").status_code == 200
    assert api.get("/image/v2/images", params={"limit": 1}).status_code == 200
    assert api.get(f"{S}/00000000-0000-0000-0000-000000000000").status_code == 404
    resp = ctl(sb, "GET", "/requests")
    assert resp.status_code == 200
    entries = resp.json()["requests"]
    # the Api's password token, then the three calls (the control API is not logged)
    assert [(e["method"], e["path"], e["status"], e["service"], e["operation"])
            for e in entries] == [
        ("POST", "/identity/v3/auth/tokens", 201, "identity", "auth"),
        ("GET", "/compute/v2.1/flavors", 200, "compute", "flavors"),
        ("GET", "/image/v2/images", 200, "image", "images"),
        ("GET", f"{S}/00000000-0000-0000-0000-000000000000", 404, "compute", "show"),
    ]
    assert entries[2]["query"] == "limit=1"
    for e in entries:
        assert 0 <= e["duration"] < 5 and e["time"] > 0
    seqs = [e["seq"] for e in entries]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    # ?since= gives only the newer ones
    newer = ctl(sb, "GET", f"/requests?since={seqs[1]}").json()["requests"]
    assert [e["seq"] for e in newer] == seqs[2:]
    assert ctl(sb, "GET", f"/requests?since={seqs[-1]}").json()["requests"] == []
    bad = ctl(sb, "GET", "/requests?since=yesterday")
    assert bad.status_code == 400 and "since" in bad.json()["error"]
    # the Python API gives the same
    assert [e.as_dict() for e in sb.request_log()] == entries
    assert [e.seq for e in sb.request_log(since=seqs[1])] == seqs[2:]
    # DELETE clears
    assert ctl(sb, "DELETE", "/requests").status_code == 204
    assert ctl(sb, "GET", "/requests").json()["requests"] == []
    assert sb.request_log() == []
    api.get(f"{S}")
    after = sb.request_log()
    assert [(e.operation, e.status) for e in after] == [("list", 200)]
    assert after[0].seq > seqs[-1]  # sequence numbers keep growing


def test_request_log_records_slow_and_failed_requests(api: Api) -> None:
    sb = api.sb
    sb.set_faults(latency={"flavors": 0.2}, errors={"images": {"rate": 1.0, "status": 502}})
    since = sb.request_log()[-1].seq
    api.get("/compute/v2.1/flavors")
    api.get("/image/v2/images")
    entries = ctl(sb, "GET", f"/requests?since={since}").json()["requests"]
    flavors, images = entries
    assert flavors["operation"] == "flavors" and flavors["duration"] >= 0.2
    assert (images["operation"], images["status"], images["service"]) == \
        ("images", 502, "image")


# -- live servers ------------------------------------------------------------------------------
def test_live_servers_of_every_project(api: Api) -> None:
    sb = api.sb
    assert ctl(sb, "GET", "/servers").json() == {"guest_kind": "process", "servers": []}
    mine = boot(api, "mine", metadata={"fedprobe.probe": "vm", "k": "v"})
    vo = Api(sb)
    vo.token = vo.password_token({"project": {"name": "vo.example.org",
                                              "domain": {"id": "default"}}})
    theirs = boot(vo, "theirs", networks=[{"uuid": vo.network_id("shared-net")}])
    api.wait_status(mine, "ACTIVE")
    vo.wait_status(theirs, "ACTIVE")
    resp = ctl(sb, "GET", "/servers")
    assert resp.status_code == 200
    listed = resp.json()
    assert listed["guest_kind"] == sb.guest_kind == "process"
    by_name = {s["name"]: s for s in listed["servers"]}
    assert set(by_name) == {"mine", "theirs"}
    assert by_name["mine"]["id"] == mine and by_name["theirs"]["id"] == theirs
    assert by_name["mine"]["project_id"] != by_name["theirs"]["project_id"]
    assert by_name["mine"]["metadata"]["fedprobe.probe"] == "vm"
    assert by_name["mine"]["metadata"]["k"] == "v"
    for s in listed["servers"]:
        assert s["status"] == "ACTIVE" and s["task_state"] is None
        assert s["addresses"] and s["reach_port"]
    # demo's project sees only its own through Nova
    assert [s["id"] for s in api.get(S).json()["servers"]] == [mine]
    # the Python API agrees (JSON round trip aside)
    assert sorted(s["id"] for s in sb.live_servers()) == sorted([mine, theirs])
    assert {s["id"]: s["metadata"] for s in sb.live_servers()} == \
        {s["id"]: s["metadata"] for s in listed["servers"]}
    # gone servers leave the list
    cleanup(api, mine)
    assert [s["id"] for s in ctl(sb, "GET", "/servers").json()["servers"]] == [theirs]
    cleanup(vo, theirs)
    assert ctl(sb, "GET", "/servers").json()["servers"] == []


# -- faults ------------------------------------------------------------------------------------
def test_faults_get_put_patch(api: Api) -> None:
    sb = api.sb
    got = ctl(sb, "GET", "/faults")
    assert got.status_code == 200
    assert got.json()["faults"] == Faults().model_dump(mode="json")
    assert api.get("/compute/v2.1/flavors").status_code == 200
    put = ctl(sb, "PUT", "/faults", json={"errors": {"flavors": {"rate": 1.0, "status": 503}}})
    assert put.status_code == 200
    assert put.json()["faults"]["errors"] == {"flavors": {"rate": 1.0, "status": 503}}
    failing = api.get("/compute/v2.1/flavors")
    assert failing.status_code == 503
    fault = failing.json()["computeFault"]
    assert fault["code"] == 503 and fault["message"]
    assert api.get("/compute/v2.1/limits").status_code == 200  # other operations unaffected
    # PATCH merges into what is in force
    patched = ctl(sb, "PATCH", "/faults", json={"console_forbidden": True})
    assert patched.status_code == 200
    faults = patched.json()["faults"]
    assert faults["console_forbidden"] is True
    assert faults["errors"] == {"flavors": {"rate": 1.0, "status": 503}}
    assert ctl(sb, "GET", "/faults").json()["faults"] == faults
    assert api.get("/compute/v2.1/flavors").status_code == 503
    # PUT replaces everything
    replaced = ctl(sb, "PUT", "/faults", json={"latency": {"show": 0.0}}).json()["faults"]
    assert replaced["errors"] == {} and replaced["console_forbidden"] is False
    assert api.get("/compute/v2.1/flavors").status_code == 200
    assert ctl(sb, "PUT", "/faults", json={}).json()["faults"] == \
        Faults().model_dump(mode="json")


def test_put_faults_errors_use_each_services_style(api: Api) -> None:
    sb = api.sb
    assert ctl(sb, "PUT", "/faults", json={"errors": {
        "images": {"rate": 1.0, "status": 504}, "networks": {"rate": 1.0, "status": 500},
        "projects": {"rate": 1.0, "status": 502}}}).status_code == 200
    image = api.get("/image/v2/images")
    assert image.status_code == 504 and image.text.startswith("504 Gateway Timeout")
    network = api.get("/networking/v2.0/networks")
    assert network.status_code == 500
    assert network.json()["NeutronError"]["type"] == "HTTPInternalServerError"
    identity = api.get("/identity/v3/auth/projects")
    assert identity.status_code == 502 and identity.json()["error"]["code"] == 502


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
@pytest.mark.parametrize("body,key,needle", [
    ({"latency": {"bogus": 1}}, "faults.latency", "bogus"),
    ({"errors": {"bogus": {"rate": 1.0}}}, "faults.errors", "bogus"),
    ({"errors": {"create": {"rate": 2}}}, "faults.errors.create.rate", "1"),
    ({"errors": {"create": {"rate": 1.0, "status": 404}}}, "faults.errors.create.status", "503"),
    ({"latency": {"create": -1}}, "faults.latency", ">= 0"),
    ({"quota_exceeded": 500}, "faults.quota_exceeded", "413"),
    ({"token_valid_for": 0}, "faults.token_valid_for", "0"),
    ({"nonsense": True}, "faults.nonsense", "not permitted"),
])
def test_invalid_faults_refused(shared: Sandbox, method: str, body: dict[str, Any], key: str,
                                needle: str) -> None:
    sb = shared
    sb.set_faults(console_forbidden=True)
    before = ctl(sb, "GET", "/faults").json()
    resp = ctl(sb, method, "/faults", json=body)
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert isinstance(error, str) and "\n" not in error
    assert error.startswith(f"key '{key}' "), error
    assert needle in error
    assert "Value error" not in error
    assert ctl(sb, "GET", "/faults").json() == before  # nothing changed


@pytest.mark.parametrize("data", [b"not json", b"[1]", b'"stuck_build"'])
def test_faults_body_must_be_an_object(shared: Sandbox, data: bytes) -> None:
    resp = ctl(shared, "PUT", "/faults", data=data)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == 400


def test_control_unknown_path_and_method(sandbox: Sandbox) -> None:
    assert ctl(sandbox, "GET", "/nothing").status_code == 404
    resp = ctl(sandbox, "POST", "/faults", json={})
    assert resp.status_code == 405
    assert "PUT" in resp.headers["Allow"]


# -- Python API equivalents ----------------------------------------------------------------------
def test_python_set_faults(api: Api) -> None:
    sb = api.sb
    chosen = sb.set_faults(errors={"flavors": {"rate": 1.0, "status": 500}})
    assert isinstance(chosen, Faults)
    assert ctl(sb, "GET", "/faults").json()["faults"] == chosen.model_dump(mode="json")
    resp = api.get("/compute/v2.1/flavors")
    assert resp.status_code == 500 and resp.json()["computeFault"]["code"] == 500
    # a Faults object works too; no arguments is a healthy cloud
    sb.set_faults(Faults(latency={"flavors": 0.2}))
    start = time.monotonic()
    assert api.get("/compute/v2.1/flavors").status_code == 200
    assert time.monotonic() - start >= 0.2
    assert sb.set_faults() == Faults()
    assert ctl(sb, "GET", "/faults").json()["faults"] == Faults().model_dump(mode="json")
    with pytest.raises(ValueError, match="bogus"):
        sb.set_faults(errors={"bogus": {"rate": 1.0}})
    assert sb.set_faults(stuck_build=True).stuck_build is True


def test_control_api_over_ipv6(sandbox: Sandbox) -> None:
    if sandbox.base_url_v6 is None:
        pytest.skip("no IPv6 loopback here")
    headers = {"X-Control-Token": sandbox.control_token}
    resp = requests.get(sandbox.base_url_v6 + "/control/faults", headers=headers, timeout=10)
    assert resp.status_code == 200 and resp.json()["faults"]["stuck_build"] is False
    assert requests.get(sandbox.base_url_v6 + "/control/servers",
                        timeout=10).status_code == 401
