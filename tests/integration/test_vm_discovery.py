"""`fedprobe vm` discovery and connection options: image by id/name/property, named flavor and
network, what is missing named (with what exists in -v), token auth, CA directories, regions,
and the plain-http rule."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from probes import programs
from probes.sandbox import Sandbox
from tests.conftest import Api, make_config

pytestmark = pytest.mark.slow


def vm(sb: Sandbox, *args: str, env: dict[str, str] | None = None
       ) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "probes", "vm", "-vv", "--sites", str(sb.sites_yaml), "--site",
           "sandbox", "-t", "60", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90,
                          env=env or dict(os.environ))


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(make_config(), tls=True)


def test_image_by_id_and_by_property(sb: Sandbox) -> None:
    api = Api(sb)
    ubuntu = api.image_id("ubuntu")
    run = vm(sb, "--image-id", ubuntu)
    assert run.returncode == 0, run.stdout
    assert "image ubuntu-22.04, flavor m1.small" in run.stdout  # smallest that fits 5 GiB/512 MiB
    run = vm(sb, "--image-property", "ad:appid=egi.cirros.0.6")
    assert run.returncode == 0 and "image cirros-0.6.2-x86_64, flavor c1.nano" in run.stdout


def test_named_flavor_and_network(sb: Sandbox) -> None:
    run = vm(sb, "--flavor", "m1.tiny", "--network", "shared-net")
    assert run.returncode == 0, run.stdout
    assert "flavor m1.tiny" in run.stdout and "network shared-net" in run.stdout


def test_a_network_given_by_id_is_not_looked_up(sb: Sandbox) -> None:
    api = Api(sb)
    nets = api.get("/networking/v2.0/networks", params={"name": "shared-net"}).json()
    net_id = nets["networks"][0]["id"]
    since = sb.request_log()[-1].seq
    run = vm(sb, "--network", net_id)
    assert run.returncode == 0, run.stdout
    assert f"network {net_id}" in run.stdout
    ops = [e.operation for e in sb.request_log(since)]
    assert "networks" not in ops and "subnets" not in ops  # the answer was known
    unknown = "00000000-0000-4000-8000-000000000000"
    run = vm(sb, "--network", unknown)
    assert run.returncode == 2 and run.stdout.startswith("FEDCLOUD_VM CRITICAL - create: ")
    assert unknown in run.stdout.splitlines()[0]
    assert sb.live_servers() == []


@pytest.mark.parametrize("args,needle,available", [
    (["--image-name", "nope"], "no active image with name nope", "cirros-0.6.2-x86_64"),
    (["--image-property", "os_distro=windows"], "no active image with property os_distro=windows",
     "ubuntu-22.04"),
    (["--image-id", "00000000-0000-0000-0000-000000000000"], "image id 00000000", ""),
    (["--flavor", "huge"], "flavor huge not found", "c1.nano"),
    (["--network", "nowhere"], "network nowhere not found", "shared-net"),
])
def test_unknown_things_are_named(sb: Sandbox, args: list[str], needle: str,
                                  available: str) -> None:
    run = vm(sb, *args)
    assert run.returncode == 2 and run.stdout.startswith("FEDCLOUD_VM CRITICAL - discover: ")
    assert needle in run.stdout.splitlines()[0]
    if available:
        assert "discover.available" in run.stdout and available in run.stdout
    assert sb.live_servers() == []


def test_token_method(sb: Sandbox, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text(Api(sb).password_token() + "\n")
    env = dict(os.environ)
    cmd = [sys.executable, "-m", "probes", "vm", "-H", sb.auth_url, "--os-auth-type", "token",
           "--os-token-file", str(token), "--os-project-name", "demo", "--cacert",
           str(sb.ca_file), "--image-name", "cirros-0.6.2-x86_64", "--port-metadata-key",
           "sandbox:reach_port", "-t", "60"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)
    assert run.returncode == 0, run.stdout
    assert token.read_text().strip() not in run.stdout + run.stderr


def test_hashed_ca_directory(sb: Sandbox, tmp_path: Path) -> None:
    certs = tmp_path / "certificates"
    certs.mkdir()
    shutil.copy(str(sb.ca_file), certs / "sandbox-ca.pem")
    subprocess.run([programs.require("openssl"), "rehash", str(certs)], check=True)
    run = vm(sb, "--cacert", str(certs))
    assert run.returncode == 0, run.stdout
    empty = tmp_path / "empty"
    empty.mkdir()
    run = vm(sb, "--cacert", str(empty))  # what configures the run is wrong: UNKNOWN
    assert run.returncode == 3, run.stdout
    assert f"site cacert {empty}: no hashed CA certificate in the directory" in run.stdout


def test_wrong_region_names_the_catalog_problem(sb: Sandbox) -> None:
    run = vm(sb, "--os-region-name", "Elsewhere")
    assert run.returncode == 2
    assert "no image endpoint in the catalog for region Elsewhere" in run.stdout


def test_plain_http_only_to_loopback(sandbox_factory: Callable[..., Sandbox]) -> None:
    plain = sandbox_factory(make_config())
    assert vm(plain).returncode == 0  # http://127.0.0.1 is fine
    run = vm(plain, "-H", "http://keystone.example.org:5000/v3")
    # the configuration's fault, found before anything is sent: UNKNOWN, not the site's CRITICAL
    assert run.returncode == 3 and "plain http to a non-loopback host" in run.stdout


def test_the_network_with_both_families_is_preferred(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    """Several usable networks: both IPv4 and IPv6 first, then IPv4 only, own before shared —
    not the first one listed (issue 18); -vv says which and why."""
    networks = [
        {"name": "a-v4-only", "project": "demo",
         "subnets": [{"name": "a4", "cidr": "198.51.100.0/26"}]},
        {"name": "b-v6-only", "project": "demo",
         "subnets": [{"name": "b6", "cidr": "2001:db8:fed:3::/64"}]},
        {"name": "c-dual", "shared": True,
         "subnets": [{"name": "c4", "cidr": "198.51.100.64/26"},
                     {"name": "c6", "cidr": "2001:db8:fed:4::/64"}]},
        {"name": "public", "shared": True, "external": True},
    ]
    run = vm(sandbox_factory(make_config(networks=networks)))
    assert "network c-dual" in run.stdout, run.stdout
    assert ("discover.network_why = shared, IPv4 and IPv6: preferred over a-v4-only (IPv4 "
            "only), b-v6-only (IPv6 only)") in run.stdout
    networks[2]["subnets"] = networks[2]["subnets"][:1]  # c-dual now IPv4 only, and shared
    run = vm(sandbox_factory(make_config(networks=networks)))
    assert "network a-v4-only" in run.stdout, run.stdout  # own before shared
    assert "discover.network_why = own, IPv4 only: preferred over c-dual" in run.stdout
