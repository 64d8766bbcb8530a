"""Every fault of probes.sandbox.faults.Faults, really injected through Sandbox.set_faults, seen
from the client's side; faults are snapshotted per server at create time."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from probes.sandbox import Sandbox
from tests.conftest import Api, make_config

S = "/compute/v2.1/servers"
SCRIPT_MARKER = "FAULTS-TEST-USERDATA-RAN"


def boot(api: Api, name: str = "t", **extra: Any) -> str:
    resp = api.create_server(name, **extra)
    assert resp.status_code == 202, resp.text
    return str(resp.json()["server"]["id"])


def remove(api: Api, *server_ids: str) -> None:
    """Delete the servers and wait until they are gone (leak check)."""
    for sid in server_ids:
        assert api.delete(f"{S}/{sid}").status_code == 204
    for sid in server_ids:
        api.wait_gone(sid)
    left = {s["id"] for s in api.sb.live_servers()}
    assert not left & set(server_ids)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start


def stays(api: Api, sid: str, seconds: float, check: Callable[[dict[str, Any]], bool]) -> None:
    """Poll the server for ``seconds``; every look must pass ``check``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        doc = api.server(sid)
        assert check(doc), f"after {seconds - (deadline - time.monotonic()):.2f}s: " \
                           f"{doc['status']} {doc['OS-EXT-STS:task_state']}"
        time.sleep(0.05)


# -- latency ---------------------------------------------------------------------------------------
def test_latency_on_auth(api: Api) -> None:
    api.sb.set_faults(latency={"auth": 0.3})
    _, took = timed(api.password_token)
    assert took >= 0.3
    # only that operation is slowed
    resp, took = timed(lambda: api.get("/compute/v2.1/flavors"))
    assert resp.status_code == 200 and took < 0.3
    api.sb.set_faults()
    _, took = timed(api.password_token)
    assert took < 0.3


def test_latency_on_create(api: Api) -> None:
    api.sb.set_faults(latency={"create": 0.3})
    image, net = api.image_id(), api.network_id()  # looked up first: only the POST is timed
    server = {"name": "slow", "imageRef": image, "flavorRef": "42", "networks": [{"uuid": net}]}
    resp, took = timed(lambda: api.post(S, json={"server": server}))
    assert resp.status_code == 202 and took >= 0.3
    sid = resp.json()["server"]["id"]
    _, took = timed(lambda: api.server(sid))
    assert took < 0.3
    remove(api, sid)


def test_create_latency_is_a_late_answer(api: Api) -> None:
    """The create is done at once; only its answer waits the latency: a client that gives up
    sooner has lost the answer, and the server is listed all the same."""
    api.sb.set_faults(latency={"create": 3.0})
    server = {"name": "lost-answer", "imageRef": api.image_id(), "flavorRef": "42",
              "networks": [{"uuid": api.network_id()}], "metadata": {"fedprobe.run": "r1"}}
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.session.post(api.base + S, json={"server": server}, headers=api.headers(),
                         timeout=(5, 0.5))
    listed = api.get(S + "/detail", params={"name": "^lost-answer$"})
    assert time.monotonic() - start < 2.0  # well before the answer would have come
    assert listed.status_code == 200
    [doc] = listed.json()["servers"]
    assert doc["metadata"]["fedprobe.run"] == "r1"
    assert doc["status"] in ("BUILD", "ACTIVE")
    assert [s["id"] for s in api.sb.live_servers()] == [doc["id"]]
    api.sb.set_faults()
    remove(api, doc["id"])


def test_delete_latency_is_a_late_answer(api: Api) -> None:
    """The delete is accepted at once (task_state deleting, then 404 after the delete delay);
    only its answer waits the latency."""
    sid = boot(api, "lost-delete")
    api.wait_status(sid, "ACTIVE")
    api.sb.set_faults(latency={"delete": 3.0})
    start = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        api.session.delete(f"{api.base}{S}/{sid}", headers=api.headers(), timeout=(5, 0.5))
    first = api.get(f"{S}/{sid}")
    assert first.status_code == 404 or \
        first.json()["server"]["OS-EXT-STS:task_state"] == "deleting", first.text
    api.wait_gone(sid, timeout=2.0)
    assert time.monotonic() - start < 3.0  # gone before the late answer
    assert api.sb.live_servers() == []


def test_injected_error_on_create_is_decided_before_it(api: Api) -> None:
    """With errors and latency on create, the 503 is late and no server was made."""
    api.sb.set_faults(latency={"create": 0.3}, errors={"create": {"rate": 1.0, "status": 503}})
    resp, took = timed(lambda: api.create_server("refused"))
    assert resp.status_code == 503 and took >= 0.3
    assert api.sb.live_servers() == []
    assert api.get(S).json()["servers"] == []


def test_latency_on_boot(api: Api) -> None:
    api.sb.set_faults(latency={"boot": 0.8})
    start = time.monotonic()
    sid = boot(api, "slowboot")
    stays(api, sid, 0.5, lambda d: d["status"] == "BUILD")
    api.wait_status(sid, "ACTIVE")
    assert time.monotonic() - start >= 0.8
    remove(api, sid)


def test_latency_on_gone(api: Api) -> None:
    sid = boot(api, "slowgone")
    api.sb.set_faults(latency={"gone": 5.0})  # snapshotted: not this server's
    api.wait_status(sid, "ACTIVE")
    _, took = timed(lambda: remove(api, sid))
    assert took < 3.0
    api.sb.set_faults(latency={"gone": 0.8})
    slow = boot(api, "slowgone")
    api.wait_status(slow, "ACTIVE")
    start = time.monotonic()
    assert api.delete(f"{S}/{slow}").status_code == 204
    # still shown (deleting) until the delay is over, 404 only after it
    stays(api, slow, 0.6, lambda d: d["OS-EXT-STS:task_state"] == "deleting")
    api.wait_gone(slow)
    assert time.monotonic() - start >= 0.8
    assert api.sb.live_servers() == []


# -- errors ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [500, 503, 504])
def test_errors_per_operation(api: Api, status: int) -> None:
    sid = boot(api, "ok")
    api.wait_status(sid, "ACTIVE")
    api.wait_console(sid, "")  # the console answers before the fault is put in force
    api.sb.set_faults(errors={op: {"rate": 1.0, "status": status}
                              for op in ("create", "show", "console")})
    for resp in (api.create_server("refused"), api.get(f"{S}/{sid}"), api.console(sid)):
        assert resp.status_code == status
        fault = resp.json()["computeFault"]
        assert fault["code"] == status and fault["message"]
    # the refused create made no server; other operations still work
    assert [s["id"] for s in api.sb.live_servers()] == [sid]
    listed = api.get(S)
    assert listed.status_code == 200 and [s["id"] for s in listed.json()["servers"]] == [sid]
    assert api.get("/compute/v2.1/flavors").status_code == 200
    # a rate of 0 injects nothing
    api.sb.set_faults(errors={op: {"rate": 0.0, "status": status}
                              for op in ("create", "show", "console")})
    assert api.get(f"{S}/{sid}").status_code == 200
    assert api.console(sid).status_code == 200
    other = boot(api, "after")
    remove(api, sid, other)


def test_error_rate_is_a_probability(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = Api(sandbox_factory(make_config(seed=7)))
    api.sb.set_faults(errors={"flavors": {"rate": 0.5, "status": 502}})
    codes = [api.get("/compute/v2.1/flavors").status_code for _ in range(60)]
    assert set(codes) == {200, 502}
    assert 10 <= codes.count(502) <= 50


# -- lifecycle faults ------------------------------------------------------------------------------
def test_stuck_build(api: Api) -> None:
    api.sb.set_faults(stuck_build=True)
    sid = boot(api, "stuck")
    stays(api, sid, 1.0, lambda d: d["status"] == "BUILD" and "fault" not in d)
    assert api.console(sid).status_code == 409  # no console while building
    remove(api, sid)
    assert api.sb.live_servers() == []


def test_boot_error(api: Api) -> None:
    api.sb.set_faults(boot_error="No valid host was found.")
    sid = boot(api, "err")
    doc = api.wait_status(sid, "ERROR")
    assert doc["fault"]["message"] == "No valid host was found."
    assert doc["fault"]["code"] == 500 and doc["fault"]["created"]
    assert doc["OS-EXT-STS:vm_state"] == "error" and doc["OS-EXT-STS:task_state"] is None
    assert doc["addresses"] == {}
    assert api.console(sid).status_code == 409
    remove(api, sid)


def test_delete_fails(api: Api) -> None:
    api.sb.set_faults(delete_fails=True)
    sid = boot(api, "sticky")
    api.wait_status(sid, "ACTIVE")
    assert api.delete(f"{S}/{sid}").status_code == 204
    doc = api.wait_status(sid, "ERROR")
    assert "delete" in doc["fault"]["message"].lower()
    stays(api, sid, 0.7, lambda d: d["status"] == "ERROR")
    # deleting again is accepted and fails again; the server stays (the fault prevents it)
    assert api.delete(f"{S}/{sid}").status_code == 204
    stays(api, sid, 0.7, lambda d: d["status"] == "ERROR")
    assert [s["id"] for s in api.sb.live_servers()] == [sid]


def test_delete_never_completes(api: Api) -> None:
    api.sb.set_faults(delete_never_completes=True)
    sid = boot(api, "zombie")
    api.wait_status(sid, "ACTIVE")
    assert api.delete(f"{S}/{sid}").status_code == 204
    stays(api, sid, 1.0, lambda d: d["OS-EXT-STS:task_state"] == "deleting")
    live = api.sb.live_servers()
    assert [(s["id"], s["task_state"]) for s in live] == [(sid, "deleting")]
    assert [s["id"] for s in api.get(S).json()["servers"]] == [sid]


def test_console_forbidden(api: Api) -> None:
    sid = boot(api, "c")
    api.wait_status(sid, "ACTIVE")
    assert api.console(sid).status_code == 200
    api.sb.set_faults(console_forbidden=True)
    resp = api.console(sid)
    assert resp.status_code == 403
    body = resp.json()["forbidden"]
    assert body["code"] == 403 and "os-console-output" in body["message"]
    assert api.get(f"{S}/{sid}").status_code == 200  # only the console is refused
    remove(api, sid)


@pytest.mark.parametrize("status,key", [(403, "forbidden"), (413, "overLimit")])
def test_quota_exceeded_fault(api: Api, status: int, key: str) -> None:
    api.sb.set_faults(quota_exceeded=status)
    resp = api.create_server("q")
    assert resp.status_code == status
    body = resp.json()[key]
    assert body["code"] == status
    assert body["message"].startswith("Quota exceeded for instances")
    if status == 413:
        assert body["retryAfter"] == "0"
    else:
        assert "retryAfter" not in body
    assert api.sb.live_servers() == []
    api.sb.set_faults()
    remove(api, boot(api, "fine-again"))


def test_real_quota(sandbox_factory: Callable[..., Sandbox]) -> None:
    api = Api(sandbox_factory(make_config(quota={"instances": 1})))
    first = boot(api, "one")
    second = api.create_server("two")
    assert second.status_code == 403
    message = second.json()["forbidden"]["message"]
    assert message.startswith("Quota exceeded for instances")
    assert "already used 1 of 1 instances" in message
    assert [s["id"] for s in api.sb.live_servers()] == [first]
    limits = api.get("/compute/v2.1/limits").json()["limits"]["absolute"]
    assert (limits["maxTotalInstances"], limits["totalInstancesUsed"]) == (1, 1)
    # the quota is free again once the server is gone
    remove(api, first)
    remove(api, boot(api, "three"))


def test_userdata_not_run(api: Api) -> None:
    script = f"#!/bin/sh\necho {SCRIPT_MARKER}\n"
    api.sb.set_faults(userdata_not_run=True)
    lazy = boot(api, "lazy", user_data=script)
    api.sb.set_faults()
    busy = boot(api, "busy", user_data=script)  # the same script, without the fault
    api.wait_status(lazy, "ACTIVE")
    text = api.wait_console(lazy, "user-data not processed")
    api.wait_console(busy, SCRIPT_MARKER)  # so the script would have shown by now
    assert SCRIPT_MARKER not in text
    assert SCRIPT_MARKER not in api.console(lazy).json()["output"]
    assert "user-data not processed" not in api.console(busy).json()["output"]
    remove(api, lazy, busy)


# -- snapshot at create time -----------------------------------------------------------------------
def test_faults_are_snapshotted_at_create(api: Api) -> None:
    api.sb.set_faults(boot_error="broken at create")
    broken = boot(api, "before")
    api.sb.set_faults(delete_fails=True)  # put in force after create: not this server's
    sticky = boot(api, "after")  # ...but this one's
    assert api.wait_status(broken, "ERROR")["fault"]["message"] == "broken at create"
    api.sb.set_faults()
    api.wait_status(sticky, "ACTIVE")
    # `broken` was created without delete_fails: it goes; `sticky` with it: it stays
    remove(api, broken)
    assert api.delete(f"{S}/{sticky}").status_code == 204
    api.wait_status(sticky, "ERROR")
    assert [s["id"] for s in api.sb.live_servers()] == [sticky]
