"""Namespace guests (root; CI runs as root): real IPv4/IPv6 addresses from documentation ranges,
metadata and MJF over HTTP at 169.254.169.254 inside the guest's namespace, SSH banner on port
22, user-data run inside, and nothing left behind — no namespace, veth, bridge or process.

First the backend on its own (GuestSpecs built here), then through a whole sandbox and the vm
probe. 169.254.169.254 is only ever contacted from inside a guest's namespace: something on the
host answers at that address."""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from probes.sandbox import Sandbox, SandboxConfigError
from probes.sandbox.config import SandboxConfig
from probes.sandbox.guests import namespace
from probes.sandbox.guests.banner import BannerService
from probes.sandbox.guests.base import SSH_BANNER, GuestError, GuestSpec
from probes.sandbox.guests.namespace import NamespaceBackend, NamespaceGuest, available
from probes.sandbox.guests.reap import reap_stale
from probes.sandbox.identity import IdentityStore
from probes.sandbox.inventory import Inventory, NetworkRec, SubnetRec
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


# -- the backend on its own: GuestSpecs built directly ---------------------------------------------

# The guest's HTTP client (the guest's clean PATH includes /usr/bin; dev/system-deps installs it).
FETCH = "wget -q -O-"


@pytest.fixture
def inventory() -> Inventory:
    cfg = SandboxConfig()
    return Inventory(cfg, IdentityStore(cfg.identity))


@pytest.fixture
def banner_service() -> Iterator[BannerService]:
    service = BannerService()
    yield service
    service.close()


@pytest.fixture
def backend(tmp_path: Path, inventory: Inventory,
            banner_service: BannerService) -> Iterator[NamespaceBackend]:
    """A backend on the default subnets, always closed (closing twice is harmless)."""
    be = NamespaceBackend(tmp_path / "guests", inventory.subnets(), banner_service, 1 << 20)
    try:
        yield be
    finally:
        be.close()


def network(inventory: Inventory, name: str = "demo-net") -> NetworkRec:
    return next(n for n in inventory.networks.values() if n.name == name)


def make_spec(net: tuple[NetworkRec, ...], name: str = "g", script: str | None = None
              ) -> GuestSpec:
    sid = str(uuid.uuid4())
    return GuestSpec(server_id=sid, name=name, hostname=f"{name}-host", project_id="p" * 32,
                     created=time.time(), user_data=script.encode() if script else None,
                     run_user_data=True, metadata={"fedprobe.host": "probe-1"}, networks=net,
                     vcpus=1, ram_mb=64,
                     mjf_machine={"total_cpu": "2", "hs06": "20.5"},
                     mjf_job={"job_id": sid, "wall_limit_secs": "172800"},
                     public_keys={"default": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAtest probe"})


def wait_console(guest: NamespaceGuest, needle: str, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = guest.console()
        if needle in text:
            return text
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not in console after {timeout}s:\n{text}")
        time.sleep(0.05)


def lines_of(text: str) -> dict[str, str]:
    """``key rest`` lines a guest script printed, by key (the console adds boot lines too)."""
    return {ln.split(" ", 1)[0]: ln.split(" ", 1)[1] for ln in text.splitlines() if " " in ln}


def addr_of(guest: NamespaceGuest, version: int) -> str:
    return next(a.addr for a in guest.addresses if a.version == version)


def in_netns(netns: str, paths: list[str]) -> dict[str, tuple[int, str]]:
    """GET each metadata path from inside the namespace: path -> (status, body)."""
    code = ("import json, sys, urllib.error, urllib.request as u\n"
            "opener = u.build_opener(u.ProxyHandler({}))\n"  # never a proxy from the env
            "out = {}\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n"
            "        r = opener.open('http://169.254.169.254' + p, timeout=5)\n"
            "        out[p] = (r.status, r.read().decode())\n"
            "    except urllib.error.HTTPError as e:\n"
            "        out[p] = (e.code, '')\n"
            "print(json.dumps(out))\n")
    run = subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", code, *paths],
                         capture_output=True, text=True, timeout=30, check=True)
    return {k: (v[0], v[1]) for k, v in json.loads(run.stdout).items()}


def assert_no_sleepers(pattern: str, within: float = 3.0) -> None:
    """No process whose command line matches is still running (zombies do not count); if one
    is, say what it is: its parent, namespaces and state."""
    deadline = time.monotonic() + within
    while True:
        found = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True,
                               check=False).stdout.split()
        alive = live([int(p) for p in found])
        if not alive or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    about = []
    for pid in alive:
        with contextlib.suppress(OSError):
            status = dict(line.split(":\t", 1) for line in
                          Path(f"/proc/{pid}/status").read_text().splitlines() if ":\t" in line)
            about.append(f"{pid}: state {status.get('State')}, ppid {status.get('PPid')}, "
                         f"netns {os.readlink(f'/proc/{pid}/ns/net')}, "
                         f"pgid {os.getpgid(pid)}, sid {os.getsid(pid)}")
    assert alive == [], f"still running ({pattern}):\n" + "\n".join(about)


def live(pids: list[int]) -> list[int]:
    """Those pids still running (zombies waiting for init do not count)."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def test_available_as_root() -> None:
    assert available() is None


def test_user_data_runs_inside_the_namespace_without_our_environment(
        backend: NamespaceBackend, inventory: Inventory, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = secrets.token_hex(12)
    monkeypatch.setenv("FEDPROBE_TEST_SECRET", secret)
    nonce = secrets.token_hex(8)
    script = (f"#!/bin/sh\necho 'nonce {nonce}'\necho \"env $(env | cut -d= -f1 | sort | "
              "tr '\\n' ' ')\"\necho \"envvals $(env | tr '\\n' ' ')\"\n"
              f"echo \"host $(hostname)\"\nip -o addr\n"
              "echo \"route4 $(ip -4 route show default)\"\n"
              "echo \"route6 $(ip -6 route show default)\"\n"
              f"echo 'end {nonce}'\n")
    spec = make_spec((network(inventory),), "ud", script)
    guest = backend.start(spec)
    assert guest.alive() and guest.reach_port == 22
    text = wait_console(guest, "exited with status 0")
    v4, v6 = addr_of(guest, 4), addr_of(guest, 6)
    assert f"namespace guest {spec.server_id} (ud-host) booting" in text
    assert f"eth0: {v4}, {v6}" in text
    assert f"nonce {nonce}" in text and f"end {nonce}" in text
    assert re.search(rf"^\d+: eth0\s+inet {re.escape(v4)}/25 ", text, re.M), text
    assert re.search(rf"^\d+: eth0\s+inet6 {re.escape(v6)}/64 ", text, re.M), text
    assert re.search(r"^\d+: lo\s+inet 169\.254\.169\.254/32 ", text, re.M), text
    assert "192.0.2.2" not in text and "fd00::2" not in text  # not the host's namespace
    assert lines_of(text)["host"] == "ud-host"
    assert lines_of(text)["route4"].startswith("default via 198.51.100.1 dev eth0")
    assert lines_of(text)["route6"].startswith("default via 2001:db8:fed:1::1 dev eth0")
    names = set(lines_of(text)["env"].split())
    assert names <= {"PATH", "HOME", "LANG", "PWD", "SHLVL", "_", "OLDPWD"}, names
    assert secret not in text and "FEDPROBE_TEST_SECRET" not in text


def test_guest_fetches_metadata_and_mjf_over_http(backend: NamespaceBackend,
                                                  inventory: Inventory) -> None:
    nonce = secrets.token_hex(8)
    md = "http://169.254.169.254"
    script = (f"#!/bin/sh\necho \"meta $({FETCH} {md}/openstack/latest/meta_data.json)\"\n"
              f"echo \"hs06 $({FETCH} {md}/mjf/machine/hs06)\"\n"
              f"echo \"jobid $({FETCH} {md}/mjf/job/job_id)\"\n"
              f"echo \"iid $({FETCH} {md}/latest/meta-data/instance-id)\"\n"
              f"echo \"udlen $({FETCH} {md}/openstack/latest/user_data | wc -c)\"\n"
              f"echo 'end {nonce}'\n")
    spec = make_spec((network(inventory),), "md", script)
    guest = backend.start(spec)
    lines = lines_of(wait_console(guest, f"end {nonce}"))
    meta = json.loads(lines["meta"])
    assert meta["uuid"] == spec.server_id and meta["name"] == "md"
    assert meta["hostname"] == "md-host" and meta["project_id"] == spec.project_id
    assert meta["availability_zone"] == "nova" and meta["launch_index"] == 0
    assert meta["public_keys"] == spec.public_keys
    assert meta["meta"] == {"fedprobe.host": "probe-1",
                            "machinefeatures": "http://169.254.169.254/mjf/machine",
                            "jobfeatures": "http://169.254.169.254/mjf/job"}
    assert guest.extra_metadata == {"machinefeatures": "http://169.254.169.254/mjf/machine",
                                    "jobfeatures": "http://169.254.169.254/mjf/job"}
    assert lines["hs06"] == "20.5" and lines["jobid"] == spec.server_id
    assert lines["iid"] == spec.server_id
    assert spec.user_data is not None and lines["udlen"] == str(len(spec.user_data))


def test_metadata_documents_seen_from_the_namespace(backend: NamespaceBackend,
                                                    inventory: Inventory) -> None:
    spec = make_spec((network(inventory),), "docs")  # no user-data
    guest = backend.start(spec)
    v4, v6 = addr_of(guest, 4), addr_of(guest, 6)
    got = in_netns(guest.netns, [
        "/openstack/", "/openstack/latest/", "/openstack/latest/user_data",
        "/openstack/latest/network_data.json", "/latest/meta-data/local-ipv4",
        "/latest/meta-data/hostname", "/latest/meta-data/instance-id", "/mjf/machine/",
        "/mjf/job/", "/mjf/machine/total_cpu", "/mjf/job/wall_limit_secs",
        "/mjf/machine/absent", "/mjf/job/absent", "/nothing/here"])
    assert got["/openstack/"] == (200, "latest\n")
    assert got["/openstack/latest/"] == (200, "meta_data.json\nnetwork_data.json\n")
    assert got["/openstack/latest/user_data"][0] == 404
    assert got["/latest/meta-data/local-ipv4"] == (200, v4)
    assert got["/latest/meta-data/hostname"] == (200, "docs-host")
    assert got["/latest/meta-data/instance-id"] == (200, spec.server_id)
    assert got["/mjf/machine/"] == (200, "hs06\ntotal_cpu\n")
    assert got["/mjf/job/"] == (200, "job_id\nwall_limit_secs\n")
    assert got["/mjf/machine/total_cpu"] == (200, "2\n")
    assert got["/mjf/job/wall_limit_secs"] == (200, "172800\n")
    for absent in ("/mjf/machine/absent", "/mjf/job/absent", "/nothing/here"):
        assert got[absent][0] == 404
    status, body = got["/openstack/latest/network_data.json"]
    nd = json.loads(body)
    assert status == 200 and nd["links"][0]["ethernet_mac_address"] == guest.addresses[0].mac
    nets = {n["type"]: n for n in nd["networks"]}
    assert nets["ipv4"]["ip_address"] == v4 and nets["ipv4"]["netmask"] == "255.255.255.128"
    assert nets["ipv4"]["routes"][0]["gateway"] == "198.51.100.1"
    assert nets["ipv6"]["ip_address"] == v6
    assert nets["ipv6"]["routes"][0]["gateway"] == "2001:db8:fed:1::1"
    assert "169.254.169.254" not in subprocess.run(["ip", "-o", "addr"], capture_output=True,
                                                   text=True, check=True).stdout


def test_ssh_banner_on_both_addresses_from_the_host(backend: NamespaceBackend,
                                                    inventory: Inventory) -> None:
    guest = backend.start(make_spec((network(inventory),), "ssh"))
    for version in (4, 6):
        assert banner(addr_of(guest, version)) == SSH_BANNER
    guest.stop()
    for version in (4, 6):
        with pytest.raises(OSError):
            banner(addr_of(guest, version), timeout=1)


def test_a_freed_address_answers_at_once_from_its_next_guest(backend: NamespaceBackend,
                                                             inventory: Inventory) -> None:
    """The host forgets a deleted guest's MAC for its addresses: the next guest given them
    (with a MAC of its own) answers the first SYN, over IPv4 and IPv6 — as behind Neutron's
    router. With the old MAC kept, the host sent there for 10-50 s (lost SYNs)."""
    net = (network(inventory),)
    stays = backend.start(make_spec(net, "stays"))  # the bridge stays in use, as at a site
    first = backend.start(make_spec(net, "first"))
    for version in (4, 6):
        assert banner(addr_of(first, version)) == SSH_BANNER  # the host learnt its MAC
    first.stop()
    for version in (4, 6):
        out = subprocess.run(["ip", f"-{version}", "neigh", "show", "to",
                              addr_of(first, version), "dev", backend.bridge],
                             capture_output=True, text=True, check=True).stdout
        assert out.strip() == "", out
    second = backend.start(make_spec(net, "second"))
    assert [a.addr for a in second.addresses] == [a.addr for a in first.addresses]
    for version in (4, 6):
        assert banner(addr_of(second, version), timeout=2) == SSH_BANNER
    second.stop()
    stays.stop()


def test_guests_get_distinct_addresses_and_freed_ones_come_back(
        backend: NamespaceBackend, inventory: Inventory) -> None:
    net = (network(inventory),)
    a, b = backend.start(make_spec(net, "a")), backend.start(make_spec(net, "b"))
    # The gateway (.1 / ::1) and the network address are never handed out.
    assert (addr_of(a, 4), addr_of(a, 6)) == ("198.51.100.2", "2001:db8:fed:1::2")
    assert (addr_of(b, 4), addr_of(b, 6)) == ("198.51.100.3", "2001:db8:fed:1::3")
    assert a.netns != b.netns
    a.stop()
    a.stop()  # idempotent
    c = backend.start(make_spec(net, "c"))
    assert (addr_of(c, 4), addr_of(c, 6)) == ("198.51.100.2", "2001:db8:fed:1::2")
    shared = backend.start(make_spec((network(inventory, "public"), network(inventory,
                                                                            "shared-net")), "s"))
    assert [x.network for x in shared.addresses] == ["shared-net", "shared-net"]
    assert addr_of(shared, 4) == "198.51.100.130"


def test_failed_starts_leave_nothing_and_harm_no_other_guest(
        tmp_path: Path, banner_service: BannerService, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = SubnetRec("sub-tiny", "tiny", "net-tiny", "203.0.113.0/30", 4, "203.0.113.1", "p")
    tiny_net = (NetworkRec("net-tiny", "tiny", "p", False, False, "ACTIVE", (tiny,)),)
    bare_net = (NetworkRec("net-bare", "bare", "p", False, False, "ACTIVE", ()),)
    before = host_state()
    be = NamespaceBackend(tmp_path / "g", [tiny], banner_service, 1 << 20)
    try:
        first = be.start(make_spec(tiny_net, "first"))
        assert [a.addr for a in first.addresses] == ["203.0.113.2"]  # the /30's only one
        with pytest.raises(GuestError, match=r"no free address left in subnet 203\.0\.113\.0/30"):
            be.start(make_spec(tiny_net, "second"))
        with pytest.raises(GuestError, match="network bare has no subnet"):
            be.start(make_spec(bare_net, "bare"))
        # A namespace name clash (same first 8 hex digits) fails and leaves the owner intact.
        owner_spec = make_spec((), "owner")  # networks "none": no address needed
        owner = be.start(owner_spec)
        assert owner.addresses == ()
        clash = make_spec((), "clash")
        clash = dataclasses.replace(clash, server_id=owner_spec.server_id[:8] + clash.server_id[8:])
        with pytest.raises(GuestError, match="File exists"):
            be.start(clash)
        assert owner.alive() and (tmp_path / "g" / owner_spec.server_id).is_dir()
        assert not (tmp_path / "g" / clash.server_id).exists()
        # So does a clash of the host-side veth name with an interface that is not ours.
        squatted = make_spec((), "squatted")
        squatter = "fpv" + squatted.server_id[:8]
        subprocess.run(["ip", "link", "add", squatter, "type", "bridge"], check=True)
        try:
            with pytest.raises(GuestError, match="File exists"):
                be.start(squatted)
            assert os.path.exists(f"/sys/class/net/{squatter}")
            assert "fpsb-" + squatted.server_id[:8] not in host_state()[0]
        finally:
            subprocess.run(["ip", "link", "del", squatter], check=True)
        # Failing halfway (namespace, veth, addresses made; then no listener) undoes all that.
        first.stop()
        calls: list[int] = []

        def broken(netns: str, addr: str, port: int, backlog: int = 16) -> socket.socket:
            calls.append(port)
            raise OSError(98, "Address already in use (simulated)")

        monkeypatch.setattr(namespace, "listen_in_netns", broken)
        half = make_spec(tiny_net, "half")
        with pytest.raises(GuestError, match="simulated"):
            be.start(half)
        monkeypatch.undo()
        assert calls == [22]
        assert not (tmp_path / "g" / half.server_id).exists()
        assert host_state() == (before[0] | {owner.netns},
                                before[1] | {be.bridge, "fpv" + owner.netns[5:]})
        retry = be.start(make_spec(tiny_net, "retry"))  # the address was given back
        assert [a.addr for a in retry.addresses] == ["203.0.113.2"]
    finally:
        be.close()
    assert host_state() == before
    assert list((tmp_path / "g").iterdir()) == []


@pytest.mark.parametrize("cidrs,needle", [
    (["192.0.2.128/25"], r"subnet 192\.0\.2\.128/25 overlaps 192\.0\.2\.0/24"),
    (["198.51.100.0/25", "fd00::/64"],
     r"subnet fd00::/64 overlaps the host's (address fd00::2/64|route fd00::/64)"),
    (["198.51.100.0/24", "198.51.100.128/25"], r"198\.51\.100\.128/25 overlaps subnet"),
    (["169.254.169.0/24"], r"169\.254\.169\.0/24 overlaps 169\.254\.0\.0/16 \(link-local"),
])
def test_overlapping_ranges_are_refused_before_anything_is_made(
        tmp_path: Path, banner_service: BannerService, cidrs: list[str], needle: str) -> None:
    subnets = [SubnetRec(f"s{i}", f"s{i}", "n", c, ipaddress.ip_network(c).version,
                         str(next(ipaddress.ip_network(c).hosts())), "p")
               for i, c in enumerate(cidrs)]
    before = host_state()
    with pytest.raises(GuestError, match=needle) as err:
        NamespaceBackend(tmp_path / "g", subnets, banner_service, 1 << 20).close()
    assert "\n" not in str(err.value)
    assert host_state() == before


def test_existing_bridge_name_is_refused_and_left_alone(
        backend: NamespaceBackend, tmp_path: Path, banner_service: BannerService) -> None:
    other = [SubnetRec("o", "o", "n", "203.0.113.0/28", 4, "203.0.113.1", "p")]
    with pytest.raises(GuestError, match=f"interface {backend.bridge} exists already"):
        NamespaceBackend(tmp_path / "o", other, banner_service, 1 << 20, backend.bridge)
    assert os.path.exists(f"/sys/class/net/{backend.bridge}")
    with pytest.raises(GuestError, match="longer than 15"):
        NamespaceBackend(tmp_path / "o", other, banner_service, 1 << 20, "fpsb-much-too-long")


def test_reaper_spares_an_empty_namespace_a_live_sandbox_is_plumbing() -> None:
    young = f"fpsb-{secrets.token_hex(4)}"  # made, its veth not yet moved in
    subprocess.run(["ip", "netns", "add", young], check=True)
    try:
        assert young not in reap_stale()
        assert young in host_state()[0]
    finally:
        subprocess.run(["ip", "netns", "del", young], check=True)


def test_stop_and_close_leave_nothing(tmp_path: Path, inventory: Inventory,
                                      banner_service: BannerService) -> None:
    before = host_state()
    be = NamespaceBackend(tmp_path / "g", inventory.subnets(), banner_service, 1 << 20,
                          bridge_name=f"fpsbt{secrets.token_hex(3)}")
    try:
        nonce = secrets.token_hex(6)
        # Sleepers that leave the process group, a temporary file, and a process in the group.
        script = (f"#!/bin/sh\n(sleep 300 &)\nsetsid sleep 301 &\necho x > /tmp/fpsb-{nonce}\n"
                  "echo started\nsleep 302\n")
        net = (network(inventory),)
        guests = [be.start(make_spec(net, f"s{i}", script)) for i in range(3)]
        for g in guests:
            wait_console(g, "started")
        netns, links = host_state()
        made_ns, made_links = netns - before[0], links - before[1]
        assert made_ns == {g.netns for g in guests}
        assert made_links == {be.bridge} | {"fpv" + g.netns[5:] for g in guests}
        pids = [int(p) for g in guests for p in subprocess.run(
            ["ip", "netns", "pids", g.netns], capture_output=True, text=True,
            check=True).stdout.split()]
        assert len(pids) >= 9  # three sleepers per guest at least
        dirs = [tmp_path / "g" / d for d in os.listdir(tmp_path / "g")]
        assert len(dirs) == 3
        guests[0].stop()  # an explicit stop ...
        assert not guests[0].alive()
        subprocess.run(["ip", "netns", "del", guests[1].netns], check=True)
        assert not guests[1].alive()  # ... a namespace removed from under us ...
    finally:
        be.close()  # ... and close() stopping the rest
    assert host_state() == before
    deadline = time.monotonic() + 3
    while live(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live(pids) == []
    assert_no_sleepers("^sleep 30[012]$")  # also those forked after pids were listed
    assert not any(d.exists() for d in dirs)
    assert not Path(f"/tmp/fpsb-{nonce}").exists()
    ip_names = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True,
                              check=True).stdout
    assert be.bridge not in ip_names


# -- through a whole sandbox -------------------------------------------------------------------

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
    # sleep durations of this test's own, so what is found is this test's (and only its)
    script = "#!/bin/sh\n(sleep 310 &) ; setsid sleep 311 & echo started; wait\n"
    ids = [api.create_server(f"s{i}", user_data=script).json()["server"]["id"]
           for i in range(2)]
    for sid in ids:
        api.wait_console(sid, "started")
    netns, links = host_state()
    assert len(netns) == 2 and len(links) == 3  # bridge + two host veth ends
    sb.stop()
    assert host_state() == (set(), set())
    assert_no_sleepers("^sleep 31[01]$")


@pytest.mark.parametrize("cidr,needle", [
    ("192.0.2.64/26", "this machine's own network"),
    ("fd00::/64", "overlaps the host's"),
])
def test_overlapping_ranges_are_refused(sandbox_factory: Callable[..., Sandbox], cidr: str,
                                        needle: str, tmp_path: Path) -> None:
    config = make_config(guests={"kind": "namespace"},
                         networks=[{"name": "n", "project": "demo",
                                    "subnets": [{"cidr": cidr}]}])
    before = set(Path(tempfile.gettempdir()).glob("fedprobe-sandbox-*"))
    with pytest.raises(SandboxConfigError, match=needle):
        sandbox_factory(config)
    assert host_state() == (set(), set())
    # a failed start removes the state directory it made
    assert set(Path(tempfile.gettempdir()).glob("fedprobe-sandbox-*")) <= before


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


def test_the_guest_posts_its_report_home_when_the_console_is_forbidden(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(make_config(guests={"kind": "namespace"}), tls=True)
    sb.set_faults(console_forbidden=True)
    # the sandbox's own bridge carries 198.51.100.1: the guest reaches this run's listener there
    run = _vm(sb, "-vv", "--report-listen", "198.51.100.1:0")
    assert run.returncode == 0, run.stdout
    assert re.search(r"^context\s+passed .*user-data ran \(nonce matched\); metadata via "
                     r"169\.254\.169\.254 \(report posted home\)$", run.stdout, re.M)
    assert "context.report_via = posted" in run.stdout
    assert "keys valid (via metadata)" in run.stdout
    # without the listener, the forbidden console is all there is: UNAVAILABLE, as before
    alone = _vm(sb)
    assert re.search(r"^context\s+unavailable .*console output not allowed", alone.stdout, re.M)
    assert host_state()[0] == set()


def test_the_exporter_takes_reports_for_its_runs_on_its_web_port(
        sandbox_factory: Callable[..., Sandbox], tmp_path: Path) -> None:
    import yaml

    from tests.integration.test_exporter import ExporterProcess

    sb = sandbox_factory(make_config(guests={"kind": "namespace"}), tls=True)
    sb.set_faults(console_forbidden=True)
    with socket.create_server(("198.51.100.1", 0)) as probe:  # a free port on the bridge
        port = probe.getsockname()[1]
    config = tmp_path / "exporter.yaml"
    config.write_text(yaml.safe_dump({
        "listen": ["127.0.0.1:0", f"198.51.100.1:{port}"], "sites_file": str(sb.sites_yaml),
        "report_url": f"http://198.51.100.1:{port}", "monitoring_host": "exporter-ns",
        "sites": {"sandbox": {k: {"enabled": False} for k in ("keystone", "api")}},
        "checks": {"vm": {"interval": 5, "timeout": 60}}}))
    exporter = ExporterProcess(config, tmp_path / "exporter.log")
    try:
        end = time.monotonic() + 90
        logs = ""
        while time.monotonic() < end:
            logs = exporter.get("/logs?site=sandbox&check=vm").text
            if "context" in logs and ("passed" in logs or "unavailable" in logs):
                break
            time.sleep(1)
        assert re.search(r"context\s+passed .*\(report posted home\)", logs), logs
        assert exporter.http.post(f"{exporter.url}/fedprobe/report/{'0' * 32}",
                                  data=b"x", timeout=10).status_code == 404
    finally:
        exporter.stop()
    assert host_state()[0] == set()


def test_missing_ipv6_is_critical_only_where_promised(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    v4_only = [{"name": "demo-net", "project": "demo",
                "subnets": [{"cidr": "198.51.100.0/25"}]}]
    sb = sandbox_factory(make_config(guests={"kind": "namespace"}, networks=v4_only), tls=True)
    required = _vm(sb, "--ipv6", "required")
    assert required.returncode == 2, required.stdout
    assert "reach_v6: no IPv6 address (IPv6 required)" in required.stdout.splitlines()[0]
    warning = _vm(sb, "--ipv6", "warning")
    assert warning.returncode == 1, warning.stdout
    assert "reach_v6: no IPv6 address (IPv6 warning)" in warning.stdout.splitlines()[0]
    informational = _vm(sb, "--ipv6", "informational")
    assert informational.returncode == 0, informational.stdout
    status = informational.stdout.splitlines()[0]  # OK, and the finding is named
    assert "reachable over IPv4); reach_v6: no IPv6 address (IPv6 informational)" in status
    assert re.search(r"^reach_v6\s+failed\s+[\d.]+s no IPv6 address", informational.stdout,
                     re.M)  # it looked and found none: it ran


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
    net = requests.get(f"{base}/networking/v2.0/networks?name=demo-net", headers=headers,
                       timeout=10).json()["networks"][0]["id"]
    server = {"name": "orphan", "imageRef": image, "flavorRef": "42",
              "networks": [{"uuid": net}]}
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
