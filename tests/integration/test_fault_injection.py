"""Every fault the sandbox can inject, really injected, and the control API that sets them."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
import requests

from probes.sandbox import Sandbox
from tests.conftest import Api, make_config

S = "/compute/v2.1/servers"


def ctl(sb: Sandbox, method: str, path: str, token: str | None = "ok",
        **kw: object) -> requests.Response:
    headers = {"X-Control-Token": sb.control_token if token == "ok" else (token or "")}
    return requests.request(method, sb.base_url + "/control" + path, headers=headers,
                            timeout=10, **kw)  # type: ignore[arg-type]


# -- control API ----------------------------------------------------------------------------------
def test_control_needs_its_own_token(api: Api) -> None:
    assert ctl(api.sb, "GET", "/health", token=None).json() == {"status": "ok"}
    for method, path in [("GET", "/requests"), ("DELETE", "/requests"), ("GET", "/servers"),
                         ("GET", "/faults"), ("PUT", "/faults")]:
        assert ctl(api.sb, method, path, token=None).status_code == 401
        assert ctl(api.sb, method, path, token="wrong").status_code == 401
    # a Keystone token is not a control token
    assert ctl(api.sb, "GET", "/servers", token=api.token).status_code == 401


def test_request_log(api: Api) -> None:
    api.get("/compute/v2.1/flavors")
    entries = ctl(api.sb, "GET", "/requests").json()["requests"]
    last = [e for e in entries if e["path"] == "/compute/v2.1/flavors"][-1]
    assert (last["method"], last["status"], last["service"], last["operation"]) == \
        ("GET", 200, "compute", "flavors")
    assert 0 <= last["duration"] < 5
    newer = ctl(api.sb, "GET", f"/requests?since={last['seq']}").json()["requests"]
    assert all(e["seq"] > last["seq"] for e in newer)
    assert ctl(api.sb, "DELETE", "/requests").status_code == 204
    assert api.sb.request_log() == []  # the control API itself is not logged
    api.get("/image/v2/images")
    assert [e.operation for e in api.sb.request_log()] == ["images"]


def test_live_servers_of_every_project(api: Api) -> None:
    api.create_server("mine", metadata={"fedprobe.host": "h"})
    other = Api(api.sb)
    other.token = other.password_token({"project": {"name": "vo.example.org",
                                                    "domain": {"id": "default"}}})
    other.create_server("theirs", networks=[{"uuid": other.network_id("shared-net")}])
    listed = ctl(api.sb, "GET", "/servers").json()
    assert listed["guest_kind"] == "process"
    assert sorted(s["name"] for s in listed["servers"]) == ["mine", "theirs"]
    assert next(s for s in listed["servers"] if s["name"] == "mine")["metadata"][
        "fedprobe.host"] == "h"
    assert len(api.sb.live_servers()) == 2


def test_faults_set_patch_and_refused(api: Api) -> None:
    assert ctl(api.sb, "GET", "/faults").json()["faults"]["stuck_build"] is False
    put = ctl(api.sb, "PUT", "/faults", json={"errors": {"flavors": {"rate": 1.0,
                                                                     "status": 503}}})
    assert put.status_code == 200
    failing = api.get("/compute/v2.1/flavors")
    assert failing.status_code == 503 and failing.json()["computeFault"]["code"] == 503
    patched = ctl(api.sb, "PATCH", "/faults", json={"console_forbidden": True}).json()["faults"]
    assert patched["console_forbidden"] and patched["errors"]["flavors"]["status"] == 503
    for bad, key in [({"latency": {"bogus": 1}}, "faults.latency"),
                     ({"errors": {"create": {"rate": 2}}}, "faults.errors.create.rate"),
                     ({"nonsense": True}, "faults.nonsense")]:
        resp = ctl(api.sb, "PUT", "/faults", json=bad)
        assert resp.status_code == 400
        assert key in resp.json()["error"] and "\n" not in resp.json()["error"]
    assert ctl(api.sb, "GET", "/faults").json()["faults"]["console_forbidden"] is True


# -- each fault -----------------------------------------------------------------------------------
def test_latency_per_operation(api: Api) -> None:
    api.sb.set_faults(latency={"auth": 0.3, "create": 0.3})
    start = time.monotonic()
    api.password_token()
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    assert api.create_server("slow").status_code == 202
    assert time.monotonic() - start >= 0.3
    start = time.monotonic()
    api.get("/compute/v2.1/flavors")
    assert time.monotonic() - start < 0.3


@pytest.mark.parametrize("status", [500, 503, 504])
def test_errors_per_operation(api: Api, status: int) -> None:
    sid = api.create_server("e").json()["server"]["id"]
    api.wait_status(sid, "ACTIVE")
    api.sb.set_faults(errors={op: {"rate": 1.0, "status": status}
                              for op in ("create", "show", "console")})
    assert api.create_server("x").status_code == status
    assert api.get(f"{S}/{sid}").status_code == status
    assert api.console(sid).status_code == status
    assert api.get(S).status_code == 200  # other operations unaffected
    api.sb.set_faults(errors={"show": {"rate": 0.0, "status": status}})
    assert api.get(f"{S}/{sid}").status_code == 200


def test_stuck_build(api: Api) -> None:
    api.sb.set_faults(stuck_build=True)
    sid = api.create_server("stuck").json()["server"]["id"]
    time.sleep(1.0)
    assert api.server(sid)["status"] == "BUILD"
    api.delete(f"{S}/{sid}")
    api.wait_gone(sid)


def test_boot_error(api: Api) -> None:
    api.sb.set_faults(boot_error="No valid host was found.")
    sid = api.create_server("err").json()["server"]["id"]
    doc = api.wait_status(sid, "ERROR")
    assert doc["fault"]["message"] == "No valid host was found." and doc["fault"]["code"] == 500
    api.delete(f"{S}/{sid}")
    api.wait_gone(sid)


def test_delete_fails(api: Api) -> None:
    api.sb.set_faults(delete_fails=True)
    sid = api.create_server("sticky").json()["server"]["id"]
    api.wait_status(sid, "ACTIVE")
    assert api.delete(f"{S}/{sid}").status_code == 204
    doc = api.wait_status(sid, "ERROR")
    assert "Failed to delete" in doc["fault"]["message"]
    time.sleep(0.5)
    assert api.server(sid)["status"] == "ERROR"
    assert api.delete(f"{S}/{sid}").status_code == 204
    time.sleep(0.7)
    assert api.server(sid)["status"] == "ERROR"
    assert [s["id"] for s in api.sb.live_servers()] == [sid]


def test_delete_never_completes(api: Api) -> None:
    api.sb.set_faults(delete_never_completes=True)
    sid = api.create_server("zombie").json()["server"]["id"]
    api.wait_status(sid, "ACTIVE")
    api.delete(f"{S}/{sid}")
    time.sleep(0.7)
    assert api.server(sid)["OS-EXT-STS:task_state"] == "deleting"
    assert api.sb.live_servers()[0]["task_state"] == "deleting"


def test_console_forbidden(api: Api) -> None:
    api.sb.set_faults(console_forbidden=True)
    sid = api.create_server("c").json()["server"]["id"]
    api.wait_status(sid, "ACTIVE")
    resp = api.console(sid)
    assert resp.status_code == 403 and "os-console-output" in resp.json()["forbidden"]["message"]


@pytest.mark.parametrize("status,key", [(403, "forbidden"), (413, "overLimit")])
def test_quota_exceeded_fault(api: Api, status: int, key: str) -> None:
    api.sb.set_faults(quota_exceeded=status)
    resp = api.create_server("q")
    assert resp.status_code == status
    body = resp.json()[key]
    assert "Quota exceeded for instances" in body["message"]
    if status == 413:
        assert body["retryAfter"] == "0"
    assert api.sb.live_servers() == []


def test_real_quota(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = Api(sandbox_factory(make_config(quota={"instances": 1})))
    assert api.create_server("one").status_code == 202
    second = api.create_server("two")
    assert second.status_code == 403
    assert "Quota exceeded for instances: Requested 1, but already used 1 of 1" in \
        second.json()["forbidden"]["message"]


def test_userdata_not_run(api: Api) -> None:
    api.sb.set_faults(userdata_not_run=True)
    sid = api.create_server("lazy", user_data="#!/bin/sh\necho SHOULD-NOT-APPEAR\n")
    sid_ = sid.json()["server"]["id"]
    api.wait_status(sid_, "ACTIVE")
    text = api.wait_console(sid_, "user-data not processed")
    time.sleep(0.2)
    assert "SHOULD-NOT-APPEAR" not in text + api.console(sid_).json()["output"]


def test_boot_and_gone_latency(api: Api) -> None:
    api.sb.set_faults(latency={"boot": 0.8, "gone": 0.8})
    start = time.monotonic()
    sid = api.create_server("slowboot").json()["server"]["id"]
    api.wait_status(sid, "ACTIVE")
    assert time.monotonic() - start >= 0.8
    start = time.monotonic()
    api.delete(f"{S}/{sid}")
    api.wait_gone(sid)
    assert time.monotonic() - start >= 0.8


def test_faults_are_snapshotted_at_create(api: Api) -> None:
    api.sb.set_faults(boot_error="broken")
    sid = api.create_server("before").json()["server"]["id"]
    api.sb.set_faults()
    assert api.wait_status(sid, "ERROR")["fault"]["message"] == "broken"
