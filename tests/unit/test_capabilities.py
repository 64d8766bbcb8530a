"""What a driver cannot do, it declares; the phase it affects then says "not checked" and the
site's policy judges it — never OK on its own. Also: a site naming an unknown driver."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from probes.checks.vm import render
from probes.deadline import Deadline
from probes.runner.lifecycle import LifecycleRunner
from probes.runner.result import LifecycleResult, Outcome
from tests.fakecloud import OPENSTACK_LIKE, FakeCloud, custody, site

# the capabilities are taken away one by one from the OpenStack-shaped fake, without a listener
OPENSTACK_SHAPED = pytest.mark.parametrize("cloud", ["openstack-like"], indirect=True)


def run(cloud: FakeCloud, port: int, without: str, **policy: str) -> LifecycleResult:
    cloud.capabilities = OPENSTACK_LIKE - {without}
    return LifecycleRunner(site(port=port, policy=policy), custody(cloud), Deadline(5),
                           Deadline(8), cloud.driver).run()


def verdict(result: LifecycleResult, **policy: str) -> tuple[str, int]:
    return render(result, site(policy=policy), 0, None, None, {})


@OPENSTACK_SHAPED
@pytest.mark.parametrize("context,code", [("required", 2), ("warning", 1)])
def test_no_report_source_is_not_checked_and_judged_by_the_context_policy(
        cloud: FakeCloud, port: int, context: str, code: int) -> None:
    result = run(cloud, port, "console", context=context)
    ctx = result.phase("context")
    assert ctx.outcome == Outcome.UNAVAILABLE
    assert ctx.detail == ("not checked: the fake driver has no way to read the guest's report "
                          "(no console; give the guest a report URL to post to (--report-listen,"
                          " --report-url))")
    assert result.phase("mjf").outcome == Outcome.SKIPPED
    assert "console" not in cloud.calls  # nothing asked of a source the driver lacks
    text, got = verdict(result, context=context)
    assert got == code and f"(context {context})" in text
    assert result.phase("gone").outcome == Outcome.PASSED and cloud.live() == []


@OPENSTACK_SHAPED
@pytest.mark.parametrize("ipv6,code", [("required", 2), ("warning", 1), ("informational", 0)])
def test_a_driver_without_ipv6_leaves_reach_v6_unchecked(cloud: FakeCloud, port: int,
                                                        ipv6: str, code: int) -> None:
    result = run(cloud, port, "ipv6", ipv6=ipv6)
    v6 = result.phase("reach_v6")
    assert v6.outcome == Outcome.UNAVAILABLE and v6.detail.startswith("not checked: the fake")
    assert result.phase("reach_v4").outcome == Outcome.PASSED
    text, got = verdict(result, ipv6=ipv6)
    assert got == code and f"(IPv6 {ipv6})" in text
    assert "reach_v6 OK" not in text


@OPENSTACK_SHAPED
def test_a_driver_without_tags_cannot_sweep_and_warns(cloud: FakeCloud, port: int) -> None:
    result = run(cloud, port, "tags")
    assert result.phase("sweep").outcome == Outcome.UNAVAILABLE
    assert "list" not in cloud.calls[:3]
    text, code = verdict(result)
    assert code == 1 and "cannot find its servers by tags" in text
    assert result.phase("gone").outcome == Outcome.PASSED


def test_an_unknown_driver_is_one_unknown_line_naming_the_drivers(tmp_path: Path) -> None:
    sites = tmp_path / "sites.yaml"
    secret = tmp_path / "pw"
    secret.write_text("pw")
    sites.write_text("sites:\n  x:\n    driver: occi\n    auth: {auth_url: 'https://k.example/v3',"
                     f" username: u, password_file: {secret}, project_name: p}}\n"
                     "    image: {name: cirros}\n")
    out = subprocess.run([sys.executable, "-m", "probes", "vm", "--sites", str(sites), "-H", "x"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 3 and out.stderr == ""
    assert out.stdout == ("FEDCLOUD_VM UNKNOWN - site driver value 'occi': not a known driver "
                          "(available: openstack) (from sites file)\n")


@OPENSTACK_SHAPED
@pytest.mark.parametrize("mjf,code", [("required", 2), ("warning", 1), ("informational", 0)])
def test_a_driver_without_metadata_leaves_missing_mjf_unchecked(cloud: FakeCloud, port: int,
                                                               mjf: str, code: int) -> None:
    cloud.guest.mjf_source, cloud.guest.machine, cloud.guest.job = "none", {}, {}
    result = run(cloud, port, "metadata", mjf=mjf)
    m = result.phase("mjf")
    assert m.outcome == Outcome.UNAVAILABLE and m.data["missing"] == "metadata"
    assert m.detail.startswith("not checked: the driver gives the guest no metadata")
    text, got = verdict(result, mjf=mjf)
    assert got == code and f"(mjf {mjf})" in text
    assert "mjf OK" not in text


@OPENSTACK_SHAPED
def test_mjf_from_the_environment_is_checked_without_metadata(cloud: FakeCloud,
                                                              port: int) -> None:
    result = run(cloud, port, "metadata")  # the fake guest's MJF comes from its environment
    assert result.phase("mjf").outcome == Outcome.PASSED
