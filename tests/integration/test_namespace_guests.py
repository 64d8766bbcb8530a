"""Namespace guests (root; CI runs as root): real IPv4/IPv6 addresses from documentation ranges,
metadata and MJF over HTTP at 169.254.169.254 inside the guest's namespace, SSH banner on port
22, user-data run inside, and nothing left behind — no namespace, veth, bridge or process."""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from probes.sandbox import Sandbox, SandboxConfigError
from probes.sandbox.guests.base import SSH_BANNER
from tests.conftest import DEMO_SCOPE, DEMO_USER, Api, make_config

pytestmark = [
    pytest.mark.root, pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespace guests need root (CI runs as root)"),
]


def host_state() -> tuple[set[str], set[str]]:
    """Network namespaces and fedprobe interfaces that exist now."""
    netns = set(subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                               check=True).stdout.split())
    links = set(re.findall(r"^\d+: (fp[^:@]+)", subprocess.run(
        ["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout, re.M))
    return {n for n in netns if n.startswith("fpsb-")}, links


@pytest.fixture
def ns_sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    assert host_state() == (set(), set()), "leftovers from an earlier run"
    sb = sandbox_factory(make_config(guests={"kind": "namespace"}))
    assert sb.guest_kind == "namespace"
    return sb


def banner(addr: str, port: int = 22, timeout: float = 5) -> bytes:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family) as sock:
        sock.settimeout(timeout)
        sock.connect((addr, port))
        return sock.recv(100)


GUEST_SCRIPT = """#!/bin/sh
echo "begin {nonce} host=$(hostname) home=$HOME"
echo "addr $(ip -o addr show dev eth0 scope global | awk '{{print $4}}' | tr '\\n' ' ')"
echo "route4 $(ip -4 route show default)"
echo "route6 $(ip -6 route show default)"
md=http://169.254.169.254
echo "meta $(wget -q -O- $md/openstack/latest/meta_data.json)"
meta=$(wget -q -O- $md/openstack/latest/meta_data.json)
mf=$(echo "$meta" | sed 's/.*"machinefeatures": "\\([^"]*\\)".*/\\1/')
echo "total_cpu $(wget -q -O- $mf/total_cpu)"
echo "job_id $(wget -q -O- $md/mjf/job/job_id)"
echo "rootfiles $(ls -A /root | wc -l)"
echo "end {nonce}"
"""


def test_guest_has_real_dual_stack_network_metadata_and_mjf(ns_sandbox: Sandbox) -> None:
    api = Api(ns_sandbox)
    nonce = secrets.token_hex(8)
    resp = api.create_server("ns-guest", user_data=GUEST_SCRIPT.format(nonce=nonce),
                             metadata={"fedprobe.host": "probe-1"})
    sid = resp.json()["server"]["id"]
    doc = api.wait_status(sid, "ACTIVE")
    addrs = {a["version"]: a["addr"] for a in doc["addresses"]["demo-net"]}
    assert addrs[4].startswith("198.51.100.") and addrs[6].startswith("2001:db8:fed:1::")
    assert doc["metadata"]["machinefeatures"] == "http://169.254.169.254/mjf/machine"
    text = api.wait_console(sid, f"end {nonce}")
    lines = dict(line.split(" ", 1) for line in text.splitlines()
                 if line.split(" ", 1)[0] in ("addr", "route4", "route6", "meta", "total_cpu",
                                              "job_id", "rootfiles"))
    assert f"begin {nonce} host=ns-guest home=/root" in text
    assert f"{addrs[4]}/25" in lines["addr"] and f"{addrs[6]}/64" in lines["addr"]
    assert "via 198.51.100.1" in lines["route4"] and "via 2001:db8:fed:1::1" in lines["route6"]
    meta = json.loads(lines["meta"])
    assert meta["uuid"] == sid and meta["meta"]["fedprobe.host"] == "probe-1"
    assert lines["total_cpu"] == "2" and lines["job_id"] == sid
    assert lines["rootfiles"] == "0"  # the host's /root is not visible to the guest
    for addr in addrs.values():
        assert banner(addr) == SSH_BANNER
    api.delete(f"/compute/v2.1/servers/{sid}")
    api.wait_gone(sid)
    assert host_state()[0] == set()
    for addr in addrs.values():  # gone: refused, or no neighbour answers any more
        with pytest.raises(OSError):
            banner(addr, timeout=1)


def test_guests_get_distinct_addresses_and_shared_network(ns_sandbox: Sandbox) -> None:
    api = Api(ns_sandbox)
    shared = api.network_id("shared-net")
    ids = [api.create_server("a").json()["server"]["id"],
           api.create_server("b").json()["server"]["id"],
           api.create_server("c", networks=[{"uuid": shared}]).json()["server"]["id"]]
    docs = [api.wait_status(i, "ACTIVE") for i in ids]
    v4 = [a["addr"] for d in docs for net in d["addresses"].values() for a in net
          if a["version"] == 4]
    assert len(set(v4)) == 3
    assert docs[2]["addresses"]["shared-net"][0]["addr"].startswith("198.51.100.1")
    assert len(host_state()[0]) == 3


def test_host_metadata_address_is_never_added(ns_sandbox: Sandbox) -> None:
    api = Api(ns_sandbox)
    api.wait_status(api.create_server("m").json()["server"]["id"], "ACTIVE")
    out = subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True).stdout
    assert "169.254.169.254" not in out


def test_shutdown_leaves_nothing(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(make_config(guests={"kind": "namespace"}))
    api = Api(sb)
    script = "#!/bin/sh\n(sleep 300 &) ; setsid sleep 301 & echo started; wait\n"
    ids = [api.create_server(f"s{i}", user_data=script).json()["server"]["id"]
           for i in range(2)]
    for sid in ids:
        api.wait_console(sid, "started")
    netns, links = host_state()
    assert len(netns) == 2 and len(links) == 3  # bridge + two host veth ends
    sb.stop()
    assert host_state() == (set(), set())
    time.sleep(0.2)
    sleepers = subprocess.run(["pgrep", "-f", "^sleep 30[01]$"], capture_output=True,
                              text=True).stdout.split()
    alive = [p for p in sleepers
             if open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    assert alive == []


@pytest.mark.parametrize("cidr,needle", [
    ("192.0.2.64/26", "this machine's own network"),
    ("fd00::/64", "overlaps the host's"),
])
def test_overlapping_ranges_are_refused(sandbox_factory: Callable[..., Sandbox], cidr: str,
                                        needle: str) -> None:
    config = make_config(guests={"kind": "namespace"},
                         networks=[{"name": "n", "project": "demo",
                                    "subnets": [{"cidr": cidr}]}])
    with pytest.raises(SandboxConfigError, match=needle):
        sandbox_factory(config)
    assert host_state() == (set(), set())


def test_second_sandbox_with_same_ranges_is_refused(ns_sandbox: Sandbox,
                                                    sandbox_factory: Callable[..., Sandbox]
                                                    ) -> None:
    with pytest.raises(SandboxConfigError, match=r"overlaps the host's address 198\.51\.100\.1"):
        sandbox_factory(make_config(guests={"kind": "namespace"}))


def _vm(sb: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "probes", "vm", "-v", "--sites", str(sb.sites_yaml), "--site",
           "sandbox", "-t", "60", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def test_vm_probe_reaches_both_families_of_a_namespace_guest(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(make_config(guests={"kind": "namespace"}), tls=True)
    run = _vm(sb)
    assert run.returncode == 0, run.stdout
    assert re.search(r"^reach_v4\s+passed .* 198\.51\.100\.\d+:22 open", run.stdout, re.M)
    assert re.search(r"^reach_v6\s+passed .* \[2001:db8:fed:1::\d+\]:22 open", run.stdout,
                     re.M)
    assert "metadata via 169.254.169.254" in run.stdout
    assert "keys valid (via metadata)" in run.stdout
    assert host_state()[0] == set()


def test_missing_ipv6_is_critical_only_where_promised(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    v4_only = [{"name": "demo-net", "project": "demo",
                "subnets": [{"cidr": "198.51.100.0/25"}]}]
    sb = sandbox_factory(make_config(guests={"kind": "namespace"}, networks=v4_only), tls=True)
    required = _vm(sb, "--ipv6", "required")
    assert required.returncode == 2, required.stdout
    assert "reach_v6: no IPv6 address (IPv6 required)" in required.stdout.splitlines()[0]
    informational = _vm(sb, "--ipv6", "informational")
    assert informational.returncode == 0, informational.stdout
    assert re.search(r"^reach_v6\s+skipped\s+[\d.]+s no IPv6 address", informational.stdout,
                     re.M)


def test_icmp_is_optional_and_real(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(make_config(guests={"kind": "namespace"}), tls=True)
    run = _vm(sb, "--icmp")
    assert run.returncode == 0, run.stdout
    assert re.search(r"^reach_v4\s+passed .*:22 open after [\d.]+s, ping ok", run.stdout, re.M)
    assert re.search(r"^reach_v6\s+passed .*\]:22 open after [\d.]+s, ping ok", run.stdout, re.M)


def test_leftovers_of_a_killed_sandbox_are_reaped(tmp_path: Path,
                                                  sandbox_factory: Callable[..., Sandbox]
                                                  ) -> None:
    assert host_state() == (set(), set())
    cfg = tmp_path / "sandbox.yaml"
    cfg.write_text("guests: {kind: namespace}\n")
    proc = subprocess.Popen([sys.executable, "-m", "probes", "sandbox", "--config", str(cfg),
                             "--state-dir", str(tmp_path / "state")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("Stop with"):
            break
    info = json.loads((tmp_path / "state" / "sandbox.json").read_text())
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": DEMO_USER}},
                     "scope": DEMO_SCOPE}}
    token = requests.post(info["auth_url"] + "/auth/tokens", json=body,
                          timeout=10).headers["X-Subject-Token"]
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.79"}
    base = info["base_url"]
    image = requests.get(f"{base}/image/v2/images?name=cirros-0.6.2-x86_64", headers=headers,
                         timeout=10).json()["images"][0]["id"]
    server = {"name": "orphan", "imageRef": image, "flavorRef": "42", "networks": "auto"}
    sid = requests.post(f"{base}/compute/v2.1/servers", json={"server": server},
                        headers=headers, timeout=10).json()["server"]["id"]
    deadline = time.monotonic() + 20
    while requests.get(f"{base}/compute/v2.1/servers/{sid}", headers=headers,
                       timeout=10).json()["server"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    proc.kill()  # SIGKILL: no cleanup runs
    proc.wait()
    netns, links = host_state()
    assert len(netns) == 1 and len(links) == 2  # the bridge and the guest's host veth stay
    sb = sandbox_factory(make_config(guests={"kind": "namespace"}))  # reaps, then starts
    assert sb.guest_kind == "namespace"
    sb.stop()
    assert host_state() == (set(), set())
