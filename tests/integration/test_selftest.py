"""`fedprobe selftest` against the sandbox (issue 23, first part): golden terminal outputs for a
ready site, a site with warnings and blocked sites (faults injected: user-data not run, the
console forbidden, no monitoring image, a password site under the EGI profile, a Keystone that
does not answer), each fault turning the right check and the verdict and exit status; the
JSON report holds the whole evidence with secrets redacted; no selftest leaves a VM.

Namespace guests (root) give the ready site: only they offer the metadata service and config
drive (process guests have neither, which the metadata check reports as it is)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from probes.sandbox import Sandbox
from tests import golden, oidc_site

pytestmark = pytest.mark.slow
RUNS = "2"


def selftest(sb: Sandbox | None, sites: Path, site: str, *args: str,
             tmp_path: Path) -> tuple[str, int, str]:
    """(normalised transcript, exit status, raw stdout) of a selftest run."""
    argv = ["selftest", "--sites", str(sites), "--site", site, "--runs", RUNS, "-t", "30",
            *args]
    proc = subprocess.run([sys.executable, "-m", "probes", *argv],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))
    text = golden.normalise(golden.transcript(argv, proc), {str(sites): "<sites>",
                                                           str(tmp_path): "<tmp>"})
    text = re.sub(r"\d+\.\d+±", "<t>±", text)
    text = re.sub(r"token valid \d+s", "token valid <t>s", text)
    assert "Traceback" not in proc.stdout + proc.stderr
    if sb is not None:
        assert sb.live_servers() == []  # a selftest sweeps and leaves no VM
    return text, proc.returncode, proc.stdout


def lines(out: str) -> dict[str, str]:
    """check -> its [TAG] line."""
    return {m.group(2): m.group(1).strip() for m in re.finditer(r"^\[(\w+|N/A |----)\] (\S+)", out,
                                                         re.M)}


@pytest.fixture(scope="module")
def oidc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Sandbox, Path]]:
    work = tmp_path_factory.mktemp("selftest")
    sb = oidc_site.start(work / "token")
    try:
        yield sb, oidc_site.sites_file(sb, work / "token", work / "sites.yaml")
    finally:
        sb.stop()


def test_a_password_site_under_the_egi_profile_is_not_ready(
        oidc: tuple[Sandbox, Path], tmp_path: Path) -> None:
    sb, sites = oidc
    text, code, out = selftest(sb, sites, "sandbox", tmp_path=tmp_path)
    golden.check("selftest_egi_password_site", text)
    assert code == 2 and lines(out)["federated_login"] == "FAIL"
    assert "NOT READY: 1 blocking failure (federated_login)" in out


def test_an_oidc_site_on_process_guests_is_ready_with_a_warning_and_says_why(
        oidc: tuple[Sandbox, Path], tmp_path: Path) -> None:
    sb, sites = oidc
    report = tmp_path / "report.json"
    text, code, out = selftest(sb, sites, oidc_site.SITE, "--json", str(report),
                               tmp_path=tmp_path)
    golden.check("selftest_egi_process_guests", text)
    assert code == 1 and lines(out)["metadata"] == "FAIL"
    assert "READY TO JOIN with 1 warning (not checked: storage," in out
    data = json.loads(report.read_text())
    assert data["verdict"]["code"] == 1 and data["profile"] == {"name": "egi-fedcloud",
                                                                "version": 1}
    assert {c["check"] for c in data["checks"]} >= {"auth", "lifecycle", "ipv6", "storage"}
    assert all(c["status"] != "PASS" or c["evidence"] for c in data["checks"])
    assert len(data["lifecycle_runs"]) == 2
    # the token was read from its file: the configuration shows no value for it
    assert data["configuration"]["auth"]["access_token"] in (None, "<redacted>")


def test_secrets_are_redacted_in_the_json_report(oidc: tuple[Sandbox, Path],
                                                 tmp_path: Path) -> None:
    sb, sites = oidc
    report = tmp_path / "report.json"
    selftest(sb, sites, "sandbox", "--profile", "openstack", "--json", str(report),
             tmp_path=tmp_path)
    text = report.read_text()
    password = yaml.safe_load(sites.read_text())["sites"]["sandbox"]["auth"]["password"]
    assert password not in text
    assert json.loads(text)["configuration"]["auth"]["password"] == "<redacted>"


@pytest.mark.parametrize("name,fault,check,status,code", [
    ("userdata_not_run", {"userdata_not_run": True}, "context", "FAIL", 2),
    ("console_forbidden", {"console_forbidden": True}, "console", "FAIL", 3),
    ("quota_exceeded", {"quota_exceeded": 403}, "lifecycle", "FAIL", 2),
    ("clock_skew", {"clock_skew": 120}, "clock_skew", "FAIL", 1),
])
def test_each_fault_turns_its_check_and_the_verdict(
        sandbox_factory: Callable[..., Sandbox], tmp_path: Path, name: str,
        fault: dict[str, object], check: str, status: str, code: int) -> None:
    sb = sandbox_factory()
    sb.set_faults(**fault)
    text, got, out = selftest(sb, sb.sites_yaml, "sandbox", "--profile", "openstack",
                              tmp_path=tmp_path)
    golden.check(f"selftest_{name}", text)
    assert lines(out)[check] == status and got == code, out


def test_a_missing_monitoring_image_blocks(sandbox_factory: Callable[..., Sandbox],
                                           tmp_path: Path) -> None:
    sb = sandbox_factory()
    text, code, out = selftest(sb, sb.sites_yaml, "sandbox", "--profile", "openstack",
                               "--image-name", "egi-monitoring-image", tmp_path=tmp_path)
    golden.check("selftest_no_image", text)
    assert code == 2 and lines(out)["image"] == "FAIL" and lines(out)["flavor"] == "N/A"
    assert "NOT READY: 2 blocking failures (image, lifecycle)" in out


def test_a_site_that_does_not_answer_is_not_ready(sandbox_factory: Callable[..., Sandbox],
                                                  tmp_path: Path) -> None:
    sb = sandbox_factory()
    sites = yaml.safe_load(sb.sites_yaml.read_text())
    sb.stop()  # nothing listens there any more
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump(sites))
    text, code, out = selftest(None, path, "sandbox", "--profile", "openstack",
                               tmp_path=tmp_path)
    golden.check("selftest_unreachable", text)
    assert code == 2 and lines(out)["auth"] == "FAIL"
    assert lines(out)["lifecycle"] == "N/A" and "no login (auth failed)" in out


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="namespace guests need root (CI runs as root)")
@pytest.mark.parametrize("name,networks,code", [("ready", None, 0), ("no_ipv6", "v4", 1)])
def test_a_site_with_real_guest_networks(tmp_path: Path, name: str, networks: str | None,
                                         code: int) -> None:
    overrides: dict[str, object] = {"guests": {"kind": "namespace"}}
    if networks == "v4":
        # the VO's project sees the shared network: there, IPv4 only
        overrides["networks"] = [
            {"name": "shared-net", "shared": True, "subnets": [
                {"name": "shared-v4", "cidr": "198.51.100.128/25"}]},
            {"name": "public", "shared": True, "external": True}]
    sb = oidc_site.start(tmp_path / "token", **overrides)
    try:
        sites = oidc_site.sites_file(sb, tmp_path / "token", tmp_path / "sites.yaml")
        text, got, out = selftest(sb, sites, oidc_site.SITE, tmp_path=tmp_path)
    finally:
        sb.stop()
    golden.check(f"selftest_namespace_{name}", text)
    assert got == code, out
    if name == "ready":
        assert "READY TO JOIN (not checked: storage," in out
        assert "FAIL" not in lines(out).values() and "N/A" not in lines(out).values()
    else:
        assert lines(out)["ipv6"] == "FAIL"
        assert "READY TO JOIN with 1 warning" in out
