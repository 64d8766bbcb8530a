"""The shipped Nagios 4 definitions (packaging/nagios4/) under the real Nagios 4, against the
sandbox (issue 22): every plugin reaches OK with its perfdata; a site whose boot outlasts
Nagios' service_check_timeout is SIGKILLed by Nagios (the whole process group, no SIGTERM)
and still leaves no VM; and when the OIDC token expires, the token's failure is what pages —
keystone and vm go CRITICAL too, but their notifications are suppressed by the shipped
service dependencies (the vm of a site whose credential is fine does notify)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from probes.sandbox import Sandbox
from tests import nagios4_server, oidc_site
from tests.pki import Pki, make_pki
from tests.tokens import expiring_in

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 15  # Nagios' service_check_timeout here (the slow site's boot takes 60 s)
SERVICES = ("fedprobe-vm", "fedprobe-keystone", "fedprobe-api", "fedprobe-token",
            "fedprobe-proxy")
OK, CRITICAL, HARD = "0", "2", "1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory,
          pki: Pki) -> Iterator[tuple[nagios4_server.Nagios, Sandbox, Sandbox, Path]]:
    """Nagios with two sites: `good` (OIDC token file and a proxy, a sandbox that boots at
    once) and `slow` (password, a sandbox whose boots take 60 s)."""
    work = tmp_path_factory.mktemp("nagios")
    with oidc_site.good_and_slow(work) as (good, slow, token, good_sites):
        # in both credential groups, to check both plugins on one host (docs/nagios4.md tells
        # operators to use the one the login reads; the proxy stays OK here throughout)
        hosts = nagios4_server.host(
            "good", "fedprobe-sites,fedprobe-oidc-sites,fedprobe-x509-sites",
            fedprobe_sites=str(good_sites), fedprobe_site=oidc_site.SITE,
            fedprobe_token_file=str(token),
            fedprobe_proxy_file=str(pki.proxy("nagios", hours=24)))
        hosts += nagios4_server.host("slow", "fedprobe-sites", fedprobe_sites=str(slow.sites_yaml),
                                     fedprobe_site="sandbox")
        main = nagios4_server.config(work / "etc", hosts, TIMEOUT)
        checked = nagios4_server.verify(main)
        assert checked.returncode == 0 and "Total Warnings: 0" in checked.stdout, \
            checked.stdout[-2000:]
        # `fedprobe` on Nagios' PATH is this checkout's (packages install /usr/bin/fedprobe)
        env = {**os.environ, "PATH": f"{ROOT / '.venv/bin'}:{os.environ['PATH']}",
               "FEDPROBE_STATE_DIR": str(work / "state")}
        for nagios in nagios4_server.run(main, env):
            yield nagios, good, slow, token


def settled(host: str, service: str, state: str, hard: bool = False) -> Callable[..., bool]:
    def cond(services: dict[tuple[str, str], dict[str, str]]) -> bool:
        s = services.get((host, service), {})
        return s.get("has_been_checked") == "1" and s.get("current_state") == state and \
            (not hard or s.get("state_type") == HARD)
    return cond


def test_every_plugin_reaches_ok_with_its_perfdata(world: tuple[nagios4_server.Nagios, Sandbox,
                                                                Sandbox, Path]) -> None:
    nagios, good, _slow, _token = world
    for service in SERVICES:
        nagios.wait(f"good/{service} OK", settled("good", service, OK), 60)
    status = nagios.services()
    for service in SERVICES:
        s = status[("good", service)]
        assert s["plugin_output"].split(" ")[1] == "OK", s["plugin_output"]
        assert "=" in s["performance_data"], (service, s["performance_data"])
    assert "total=" in status[("good", "fedprobe-vm")]["performance_data"]
    assert good.live_servers() == []


def test_a_boot_outlasting_nagios_timeout_is_killed_and_leaves_no_vm(
        world: tuple[nagios4_server.Nagios, Sandbox, Sandbox, Path]) -> None:
    nagios, _good, slow, _token = world
    def timed_out(services: dict[tuple[str, str], dict[str, str]]) -> bool:
        out = services.get(("slow", "fedprobe-vm"), {}).get("plugin_output", "")
        return out.lower().startswith(f"(service check timed out after {TIMEOUT}")

    nagios.wait("slow/fedprobe-vm timed out", timed_out, 60)
    s = nagios.services()[("slow", "fedprobe-vm")]
    assert s["current_state"] == CRITICAL  # service_check_timeout_state=c, Nagios' default
    # SIGKILL reaches the whole group: what fedprobe leaves running is its custodian
    end = time.monotonic() + 30
    while slow.live_servers():
        assert time.monotonic() < end, f"the killed run left {slow.live_servers()}"
        time.sleep(0.2)


def test_an_expired_token_pages_as_the_token_not_as_the_cloud(
        world: tuple[nagios4_server.Nagios, Sandbox, Sandbox, Path]) -> None:
    nagios, _good, _slow, token = world
    for service in SERVICES:
        nagios.wait(f"good/{service} OK", settled("good", service, OK), 60)
    token.write_text(expiring_in(-60))  # expired, and not one the cloud accepts
    # each reaches its hard state in turn, as the templates' attempts make it in production
    for service in ("fedprobe-token", "fedprobe-keystone", "fedprobe-vm"):
        while not settled("good", service, CRITICAL, hard=True)(nagios.services()):
            before = nagios.services()[("good", service)]["last_check"]
            nagios.force_check("good", service)
            nagios.wait(f"good/{service} checked again",
                        lambda s, b=before, sv=service: s[("good", sv)]["last_check"] != b, 60)
    status = nagios.services()
    assert "expired" in status[("good", "fedprobe-token")]["plugin_output"]
    assert status[("good", "fedprobe-vm")]["current_state"] == CRITICAL
    # the slow site's vm, whose credential is fine, reaches its hard CRITICAL and notifies
    nagios.wait("slow/fedprobe-vm hard CRITICAL", settled("slow", "fedprobe-vm", CRITICAL,
                                                           hard=True), 90)
    end = time.monotonic() + 10
    while ["slow", "fedprobe-vm", "CRITICAL", "PROBLEM"] not in nagios.notifications():
        assert time.monotonic() < end, nagios.notifications()
        time.sleep(0.2)
    sent = {(h, s) for h, s, state, kind in nagios.notifications() if kind == "PROBLEM"}
    assert ("good", "fedprobe-token") in sent
    assert ("good", "fedprobe-keystone") not in sent
    assert ("good", "fedprobe-vm") not in sent
