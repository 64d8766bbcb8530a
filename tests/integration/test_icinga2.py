"""The shipped Icinga 2 definitions (packaging/icinga2/fedprobe.conf) under the real Icinga 2,
against the sandbox: every plugin reaches OK with its perfdata, through the shipped apply
rules; a boot that outlasts the check timeout is stopped by Icinga (SIGTERM, UNKNOWN) and
still leaves no VM, the plugin told Icinga's timeout through FEDPROBE_SCHEDULER_TIMEOUT; and
when the OIDC token expires, the token's failure is what pages — keystone and vm go CRITICAL
too, but the shipped dependencies hold back their notifications (a site whose Keystone is
down does page as keystone)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from probes.sandbox import Sandbox
from tests import icinga2_server, oidc_site
from tests.icinga2_server import Icinga
from tests.pki import VO, Pki, make_pki
from tests.tokens import expiring_in

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
SHORT = 15  # the slow site's check_timeout here (its boots take 60 s, its -t is 30)
OK, CRITICAL, UNKNOWN = 0.0, 2.0, 3.0
HARD = 1.0  # state_type
SERVICES = ("fedprobe-vm", "fedprobe-keystone", "fedprobe-api", "fedprobe-token",
            "fedprobe-proxy")


def hosts(good_sites: Path, token: Path, proxy: Path, cacert: Path, slow_sites: Path,
          down_sites: Path) -> str:
    """The sites as docs/icinga2.md tells an operator to define them."""
    return f"""
object Host "good" {{
  check_command = "dummy"
  vars.fedprobe_sites = "{good_sites}"
  vars.fedprobe_site = "sandbox-oidc"
  vars.fedprobe_token_file = "{token}"
  vars.fedprobe_proxy_file = "{proxy}"
  vars.fedprobe_proxy_cacert = "{cacert}"
  vars.fedprobe_proxy_vo = "{VO}"
}}
object Host "slow" {{
  check_command = "dummy"
  vars.fedprobe_sites = "{slow_sites}"
  vars.fedprobe_site = "sandbox"
  vars.fedprobe_own_services = [ "fedprobe-vm" ]
}}
/* a timeout below the plugin's -t: the misconfiguration whose outcome is tested */
object Service "fedprobe-vm" {{
  import "fedprobe-vm"
  host_name = "slow"
  check_timeout = {SHORT}
  vars.fedprobe_timeout = 30
}}
/* logs in with a proxy (not checked here: its dependencies are) */
object Host "grid" {{
  check_command = "dummy"
  vars.fedprobe_sites = "{slow_sites}"
  vars.fedprobe_site = "sandbox"
  vars.fedprobe_proxy_file = "{proxy}"
}}
object Host "down" {{
  check_command = "dummy"
  vars.fedprobe_sites = "{down_sites}"
  vars.fedprobe_site = "sandbox"
}}
"""


@dataclass
class World:
    icinga: Icinga
    good: Sandbox
    slow: Sandbox
    token: Path
    sites: Path   # good's sites file
    proxy: Path
    cacert: Path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, pki: Pki) -> Iterator[World]:
    """Icinga 2 with four sites: `good` (an OIDC token file and a proxy, a sandbox that boots at
    once), `slow` (password, a sandbox whose boots take 60 s), `down` (its Keystone's port
    closed) and `grid` (a proxy login, never checked)."""
    work = tmp_path_factory.mktemp("icinga2")
    with oidc_site.good_and_slow(work) as (good, slow, token, good_sites):
        down = yaml.safe_load(slow.sites_yaml.read_text())
        down["sites"]["sandbox"]["auth"]["auth_url"] = \
            f"http://127.0.0.1:{icinga2_server.free_port()}/identity/v3"
        down_sites = work / "down-sites.yaml"
        down_sites.write_text(yaml.safe_dump(down))
        proxy = pki.proxy("icinga", hours=24)
        icinga = icinga2_server.config(
            work / "icinga", hosts(good_sites, token, proxy, pki.certdir, slow.sites_yaml,
                                   down_sites), fedprobe=ROOT / ".venv/bin/fedprobe")
        checked = icinga2_server.validate(icinga)
        assert checked.returncode == 0 and "warning/" not in checked.stdout, \
            checked.stdout[-3000:]
        env = {**os.environ, "FEDPROBE_STATE_DIR": str(work / "state")}
        for running in icinga2_server.run(icinga, env):
            yield World(running, good, slow, token, good_sites, proxy, pki.certdir)


def result_of(name: str, services: dict[str, dict[str, Any]]) -> dict[str, Any] | None:
    """The service's attributes once it has a check result."""
    return services[name] if services[name]["last_check_result"] else None


def test_every_plugin_reaches_ok_with_its_perfdata(world: World) -> None:
    icinga = world.icinga
    applied = icinga.services()
    assert {n for n in applied if n.startswith("good!")} == {f"good!{s}" for s in SERVICES}
    schedule = {s: tuple(applied[f"good!{s}"][k] for k in ("check_interval", "retry_interval",
                                                          "max_check_attempts"))
                for s in SERVICES}
    assert schedule == {"fedprobe-vm": (3600, 900, 2),  # as eu.egi.cloud.OpenStack-VM
                        "fedprobe-keystone": (600, 300, 3), "fedprobe-api": (900, 300, 3),
                        "fedprobe-token": (900, 300, 2), "fedprobe-proxy": (3600, 300, 2)}
    for name in (f"good!{s}" for s in SERVICES):
        icinga.check_now(name)
    for service in SERVICES:
        done = icinga.wait(f"good!{service} checked", partial(result_of, f"good!{service}"), 60)
        result = done["last_check_result"]
        assert done["state"] == OK, (service, result["output"])
        assert result["output"].split(" ")[1] == "OK", result["output"]
        assert result["performance_data"], (service, result["output"])
        assert "not below the scheduler's timeout" not in result["output"]  # -t < timeout
    ran = {n.split("!")[1]: a["last_check_result"]["command"][1:]
           for n, a in icinga.services().items() if n.startswith("good!")}
    site = ["--site", "sandbox-oidc", "--sites", str(world.sites)]
    assert ran == {  # the arguments mapped from the host's variables and the defaults
        "fedprobe-vm": ["vm", *site, "-t", "300"],
        "fedprobe-keystone": ["keystone", *site, "-t", "60"],
        "fedprobe-api": ["api", *site, "-t", "120"],
        "fedprobe-token": ["token", "--file", str(world.token), "-t", "30"],
        "fedprobe-proxy": ["proxy", "--cacert", str(world.cacert), "--file", str(world.proxy),
                           "--vo", VO, "-t", "30"]}
    perf = icinga.services()["good!fedprobe-vm"]["last_check_result"]["performance_data"]
    assert any(p.startswith("total=") for p in perf), perf
    assert world.good.live_servers() == []


def test_a_boot_outlasting_the_check_timeout_is_stopped_and_leaves_no_vm(world: World) -> None:
    icinga, slow = world.icinga, world.slow
    before = icinga.check_now("slow!fedprobe-vm")
    seen: list[str] = []

    def ended(services: dict[str, dict[str, Any]]) -> bool:
        seen.extend(s["id"] for s in slow.live_servers() if s["id"] not in seen)
        return bool(services["slow!fedprobe-vm"]["last_check"] != before)

    icinga.wait("slow!fedprobe-vm timed out", ended, SHORT * 1.1 + 30)
    done = icinga.services()["slow!fedprobe-vm"]
    result = done["last_check_result"]
    assert seen, "no VM was made: the run ended before it booted anything"
    assert done["state"] == UNKNOWN and result["exit_status"] == 128, result
    assert result["output"].startswith("<Timeout exceeded.>"), result["output"]
    assert result["execution_end"] - result["execution_start"] < SHORT * 1.1 + 1
    # SIGTERM first: fedprobe said why it stopped, and that -t was not below Icinga's timeout
    assert "interrupted by SIGTERM" in result["output"], result["output"]
    assert f"not below the scheduler's timeout of {SHORT} s" in result["output"]
    end = time.monotonic() + 20
    while slow.live_servers():
        assert time.monotonic() < end, f"the stopped run left {slow.live_servers()}"
        time.sleep(0.2)


def until_hard(icinga: Icinga, name: str, state: float) -> dict[str, Any]:
    """Run the check until it is in this hard state, as its attempts bring it there."""
    for _ in range(4):
        done = icinga.checked(name, 60)
        if done["state"] == state and done["state_type"] == HARD:
            return done
    raise AssertionError(f"{name} not hard {state}: {icinga.summary()}")


@pytest.fixture
def token_file(world: World) -> Iterator[Path]:
    """good's token file, valid again once the test is done."""
    valid = world.token.read_text()
    yield world.token
    world.token.write_text(valid)


def test_an_expired_token_pages_as_the_token_not_as_the_cloud(world: World,
                                                               token_file: Path) -> None:
    icinga = world.icinga
    for service in ("fedprobe-token", "fedprobe-keystone", "fedprobe-vm", "fedprobe-api"):
        until_hard(icinga, f"good!{service}", OK)
    token_file.write_text(expiring_in(-60))  # expired, and not one the cloud accepts
    # each reaches its hard state in turn, as the templates' attempts make it in production
    token = until_hard(icinga, "good!fedprobe-token", CRITICAL)
    assert "expired" in token["last_check_result"]["output"]
    for service in ("fedprobe-keystone", "fedprobe-vm", "fedprobe-api"):
        done = until_hard(icinga, f"good!{service}", CRITICAL)
        assert done["last_reachable"] is False, (service, done)
    # a site whose Keystone is down: its keystone pages, its vm (behind keystone) does not
    until_hard(icinga, "down!fedprobe-keystone", CRITICAL)
    until_hard(icinga, "down!fedprobe-vm", CRITICAL)
    end = time.monotonic() + 10
    while ["down", "fedprobe-keystone", "CRITICAL", "PROBLEM"] not in icinga.notifications():
        assert time.monotonic() < end, icinga.notifications()
        time.sleep(0.2)
    time.sleep(5.5)  # the notification component's timer: anything held back would show now
    sent = {(h, s) for h, s, _state, kind in icinga.notifications() if kind == "PROBLEM"}
    assert ("good", "fedprobe-token") in sent
    assert not sent & {("good", "fedprobe-keystone"), ("good", "fedprobe-vm"),
                       ("good", "fedprobe-api"), ("down", "fedprobe-vm")}, sent
    deps = icinga.objects("dependencies")
    assert all(d["disable_notifications"] and not d["disable_checks"] for d in deps)
    # the credential keystone's login reads, not the proxy beside it: a child with several
    # dependencies is unreachable only when all of them have failed
    assert sorted((d["child_service_name"], d["parent_service_name"]) for d in deps
                  if d["child_host_name"] == "good") == [
        ("fedprobe-api", "fedprobe-keystone"), ("fedprobe-keystone", "fedprobe-token"),
        ("fedprobe-vm", "fedprobe-keystone")]
    assert {d["parent_service_name"] for d in deps if d["child_host_name"] == "grid" and
            d["child_service_name"] == "fedprobe-keystone"} == {"fedprobe-proxy"}
