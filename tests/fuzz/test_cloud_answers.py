"""Fuzzing what a cloud answers — the Keystone token, the Nova, Glance and Neutron bodies the
driver reads, and the guest's report on the console: a malformed answer is the site's fault, so
the driver raises DriverError (the login AuthError) naming the call, and a plugin says CRITICAL
(2), never UNKNOWN with an "internal error". The cloud is requests-mock in this process (no
socket is opened); every call of the driver and of the fast checks is made against it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests_mock
from hypothesis import given
from hypothesis import strategies as st

from probes.auth.keystone import AuthError, Login, login
from probes.config.site import parse as parse_site
from probes.deadline import Deadline
from probes.drivers.base import DriverError, ServerSpec
from probes.drivers.openstack import OpenStackDriver
from probes.guest import mjf
from probes.guest.report import read
from probes.runner import fast
from tests.fuzz.harness import environ, holds_contract, mutations, run

KS = "http://127.0.0.1:5000/v3"
NOVA, GLANCE, NEUTRON = "http://127.0.0.1:8774/v2.1", "http://127.0.0.1:9292", \
    "http://127.0.0.1:9696"
SITE = parse_site({"name": "s", "auth": {"auth_url": KS, "username": "u",
                                                  "password": "pw", "project_name": "p"},
                            "image": {"name": "cirros"}})


def _endpoint(kind: str, url: str) -> dict[str, Any]:
    return {"type": kind, "id": kind, "endpoints": [{"interface": "public", "region": "R",
                                                     "region_id": "R", "url": url,
                                                     "id": f"{kind}-1"}]}


def answers() -> dict[tuple[str, str], tuple[int, Any]]:
    """(method, URL) -> (status, body) of a small healthy cloud."""
    expires = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).strftime(
        "%Y-%m-%dT%H:%M:%S.000000Z")
    domain = {"id": "default", "name": "Default"}
    server = {"id": "srv-1", "name": "fedprobe-x", "status": "ACTIVE",
              "created": "2026-12-02T10:00:00Z", "metadata": {"fedprobe.run": "r1"},
              "addresses": {"net": [{"version": 4, "addr": "198.51.100.7"}]},
              "OS-EXT-STS:task_state": None}
    return {
        ("POST", f"{KS}/auth/tokens"): (201, {"token": {
            "expires_at": expires, "issued_at": expires, "methods": ["password"],
            "project": {"id": "p1", "name": "p", "domain": domain},
            "user": {"id": "u1", "name": "u", "domain": domain},
            "catalog": [_endpoint("compute", NOVA), _endpoint("image", GLANCE),
                        _endpoint("network", NEUTRON), _endpoint("identity", KS)]}}),
        ("GET", f"{NOVA}/flavors/detail"): (200, {"flavors": [
            {"id": "f1", "name": "tiny", "vcpus": 1, "ram": 64, "disk": 1}]}),
        ("GET", f"{NOVA}/limits"): (200, {"limits": {"absolute": {
            "maxTotalInstances": 10, "totalInstancesUsed": 0, "maxTotalCores": 10,
            "totalCoresUsed": 0, "maxTotalRAMSize": 1000, "totalRAMUsed": 0}}}),
        ("GET", f"{GLANCE}/v2/images"): (200, {"images": [
            {"id": "img-1", "name": "cirros", "created_at": "2026-01-01T00:00:00Z",
             "min_disk": 0, "min_ram": 0}]}),
        ("GET", f"{NEUTRON}/v2.0/networks"): (200, {"networks": [
            {"id": "net-1", "name": "net", "subnets": ["s1"], "project_id": "p1",
             "shared": False},
            {"id": "net-2", "name": "shared", "subnets": ["s2", "s3"], "project_id": "admin",
             "shared": True}]}),
        ("GET", f"{NEUTRON}/v2.0/subnets"): (200, {"subnets": [
            {"id": "s1", "network_id": "net-1", "ip_version": 4},
            {"id": "s2", "network_id": "net-2", "ip_version": 4},
            {"id": "s3", "network_id": "net-2", "ip_version": 6}]}),
        ("POST", f"{NOVA}/servers"): (202, {"server": {"id": "srv-1"}}),
        ("GET", f"{NOVA}/servers/srv-1"): (200, {"server": server}),
        ("GET", f"{NOVA}/servers/detail"): (200, {"servers": [server], "servers_links": []}),
        ("POST", f"{NOVA}/servers/srv-1/action"): (200, {"output": "FPR ..."}),
        ("GET", NOVA): (200, {"version": {"id": "v2.1"}}),
        ("GET", GLANCE): (300, {"versions": []}),
        ("GET", NEUTRON): (200, {"versions": []}),
    }


@pytest.fixture
def cloud() -> Iterator[Callable[[dict[tuple[str, str], tuple[int, Any]]], None]]:
    """Serve a set of answers (a body that is bytes is sent as it is, not as JSON)."""
    with requests_mock.Mocker() as mock:
        def serve(table: dict[tuple[str, str], tuple[int, Any]]) -> None:
            mock.reset_mock()
            for (method, url), (status, body) in table.items():
                raw = body if isinstance(body, bytes) else json.dumps(body).encode()
                headers = {"Content-Type": "application/json", "X-Subject-Token": "tok"}
                mock.register_uri(method, url, status_code=status, content=raw,
                                  headers=headers)
        yield serve


def broken(data: st.DataObject) -> tuple[tuple[str, str], dict[tuple[str, str], tuple[int, Any]]]:
    """The healthy answers with one of them changed: a value replaced, a key removed, added or
    misspelt, or a body that is no JSON at all."""
    table = answers()
    key = data.draw(st.sampled_from(sorted(table)))
    status, body = table[key]
    if data.draw(st.integers(0, 9)) == 0:
        table[key] = (status, data.draw(st.binary(max_size=40)))
    else:
        table[key] = (status, data.draw(mutations(body))[1])
    return key, table


TAGS = {"fedprobe.host": "x", "fedprobe.run": "r1"}


def connected(session: Login) -> OpenStackDriver:
    """The driver on a session logged in already (its project: p1)."""
    driver = OpenStackDriver(SITE)
    driver.attach(session)
    return driver


def _driver_calls(driver: OpenStackDriver) -> None:
    """Every call the lifecycle makes; only DriverError may come out of each."""
    spec = ServerSpec("img-1", "f1", None, "#!/bin/sh\n", TAGS)
    d = Deadline(10)
    calls: list[Callable[[], object]] = [
        lambda: driver.discover(d), lambda: driver.create(spec, d),
        lambda: driver.status("srv-1", d), lambda: driver.report("srv-1", d),
        lambda: driver.list_own({"fedprobe.run": "r1"}, d)]
    for call in calls:
        try:
            call()
        except DriverError as exc:
            assert "\n" not in str(exc) and str(exc).split(":", 1)[0], exc


def test_the_healthy_answers_pass(cloud: Callable[..., None]) -> None:
    """The fuzz starts from answers the driver accepts (else it would test nothing)."""
    cloud(answers())
    driver, d = connected(login(SITE, 5)), Deadline(10)
    found = driver.discover(d)
    assert found.flavor.name == "tiny"
    assert found.network is not None and found.network.name == "shared"  # IPv4 and IPv6
    assert driver.create(ServerSpec("img-1", "f1", None, "", TAGS), d) == "srv-1"
    assert driver.status("srv-1", d).addresses == ((4, "198.51.100.7"),)
    assert [s.id for s in driver.list_own({"fedprobe.run": "r1"}, d)] == ["srv-1"]
    steps = fast.api(SITE, Deadline(10)).steps
    assert [s.state.name for s in steps] == ["OK"] * 6


@given(data=st.data())
def test_a_malformed_answer_is_a_driver_error(cloud: Callable[..., None],
                                              data: st.DataObject) -> None:
    key, table = broken(data)
    cloud(table)
    try:
        session = login(SITE, 5)
    except AuthError as exc:
        assert key[1].endswith("/auth/tokens") and "\n" not in str(exc), (key, exc)
        return
    _driver_calls(connected(session))
    for check in (fast.api, fast.keystone):
        for step in check(SITE, Deadline(10)).steps:
            assert step.detail is None or "\n" not in step.detail


@given(data=st.data())
def test_a_plugin_says_critical_for_a_malformed_answer(cloud: Callable[..., None],
                                                       tmp_path_factory: pytest.TempPathFactory,
                                                       data: st.DataObject) -> None:
    key, table = broken(data)
    cloud(table)
    work = tmp_path_factory.getbasetemp()
    (work / "pw").write_text("pw\n")
    command = data.draw(st.sampled_from(["api", "keystone"]))
    r = run([command, "-H", KS, "--os-username", "u", "--os-project-name", "p",
             "--os-password-file", str(work / "pw"), "-t", "10"], environ(work))
    holds_contract(r, {"api": "CLOUD_API", "keystone": "KEYSTONE"}[command])
    assert r.code != 3, (key, r)  # the site answered badly: its fault, never UNKNOWN


# -- the guest's report ----------------------------------------------------------------------------
NONCE = "0123456789abcdef"
KEYS = ["metadata", "mjf.source", "mjf.machine.total_cpu", "mjf.job.wall_limit_secs",
        "mjf.job.jobstart_secs", "mjf.machine.hs06", "addr.inet", "addr.inet6", "route.inet",
        "hygiene.authorized_keys", "hygiene.authorized_keys_file", "hygiene.credential_file",
        "uptime"]


@given(st.lists(st.tuples(st.sampled_from(KEYS) | st.text(max_size=8),
                          st.text(max_size=12) | st.sampled_from(["²", "٣", "1e9", "-1", ""])),
                max_size=12),
       st.sampled_from(["end lines=", "end lines=²", "end lines=x", ""]), st.integers(0, 20))
def test_any_guest_report(lines: list[tuple[str, str]], end: str, count: int) -> None:
    body = [f"FPR {NONCE} begin", *(f"FPR {NONCE} {k}={v}" for k, v in lines)]
    if end:
        body.append(f"FPR {NONCE} {end}{count if end.endswith('=') else ''}")
    reading = read("\n".join(body), NONCE)
    assert reading.report is not None
    report = reading.report
    mjf.validate(report.mjf_machine, report.mjf_job, 1e9, ("total_cpu",))


def test_a_unicode_digit_in_a_report_is_no_number() -> None:
    """str.isdigit() takes "²", int() does not: the report reader must not crash on it."""
    console = f"FPR {NONCE} begin\nFPR {NONCE} hygiene.authorized_keys=²\nFPR {NONCE} end lines=²"
    reading = read(console, NONCE)
    assert reading.report is not None and reading.report.authorized_keys == 0
    assert not reading.report.complete


def test_a_malformed_create_answer_may_have_created_a_server(
        cloud: Callable[..., None]) -> None:
    """Nova accepted (202) but the answer names no server: the server may exist, so the error
    is ``maybe_done`` and the runner looks for it by its run id (docs/cleanup.md)."""
    for body in ({}, {"server": {}}, {"server": {"id": 5}}, b"not json", []):
        table = answers()
        table[("POST", f"{NOVA}/servers")] = (202, body)
        cloud(table)
        driver = connected(login(SITE, 5))
        with pytest.raises(DriverError, match=r"^create: malformed answer") as caught:
            driver.create(ServerSpec("img-1", "f1", None, "", TAGS), Deadline(10))
        assert caught.value.maybe_done and not caught.value.transient
