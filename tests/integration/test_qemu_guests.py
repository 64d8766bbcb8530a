"""QEMU guests: the sandbox boots real tiny VMs (a Debian kernel under TCG, busybox, a real
config drive, serial console, a tap on the sandbox bridge). The full `fedprobe vm` lifecycle is
OK with every phase real; faults still work (a guest that never boots, QEMU killed, console
forbidden); deleting and shutting down leave no QEMU, tap, bridge, namespace or file behind.
Root and slow (each boot is ~5 s of TCG)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from probes.sandbox import Sandbox
from probes.sandbox.qemu.guestinit import BOOT_MARKER
from tests.conftest import Api, make_config
from tests.integration.test_vm_plugin import PHASES, vm

pytestmark = [pytest.mark.slow, pytest.mark.root]


def _qemu_pids(server_id: str | None = None) -> list[int]:
    name = f"fedprobe-{server_id[:8]}" if server_id else "fedprobe-"
    out = subprocess.run(["pgrep", "-f", f"qemu-system-x86_64.*-name {name}"],
                         capture_output=True, text=True, check=False).stdout
    return [int(p) for p in out.split()]


def _links(prefix: str) -> list[str]:
    return [n for n in os.listdir("/sys/class/net") if n.startswith(prefix)]


def _netns() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True,
                         check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.startswith("fpsb-")]


def test_a_killed_sandbox_takes_its_vms_along_and_the_next_one_reaps(tmp_path: Path) -> None:
    # Before the module's shared sandbox exists (same subnets).
    proc = subprocess.Popen([sys.executable, "-m", "probes", "sandbox", "--guests", "qemu",
                             "--state-dir", str(tmp_path)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "sandbox.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        info = json.loads((tmp_path / "sandbox.json").read_text())
        api = Api(types.SimpleNamespace(base_url=info["base_url"], ca_file=None))
        sid = api.create_server("orphan").json()["server"]["id"]
        api.wait_status(sid, "ACTIVE", 60)
        assert _qemu_pids(sid)
    finally:
        proc.kill()
        proc.wait()
    deadline = time.monotonic() + 10
    while _qemu_pids(sid):  # QEMU dies with it (PR_SET_PDEATHSIG), no cleanup code ran
        assert time.monotonic() < deadline, "QEMU outlived its killed sandbox"
        time.sleep(0.1)
    tap = f"fpt{sid.replace('-', '')[:8]}"
    assert _links(tap)  # nothing cleaned up: the next sandbox's job
    nxt = Sandbox(make_config(guests={"kind": "qemu", "boot_timeout": 30})).start()
    nxt.stop()
    assert not _links(tap)
    assert not [n for n in _netns() if n.startswith("fpsb-md")]


def test_shutdown_leaves_nothing_behind() -> None:
    # First in the file: the module's shared QEMU sandbox (same subnets) does not exist yet.
    sb = Sandbox(make_config(guests={"kind": "qemu", "boot_timeout": 30})).start()
    state: Path = sb.state_dir
    bridge = sb.cloud.backend.bridge if sb.cloud else ""
    try:
        api = Api(sb)
        sid = api.create_server("left-running").json()["server"]["id"]
        api.wait_status(sid, "ACTIVE", 60)
        assert _qemu_pids(sid) and bridge in _links("fpsb")
    finally:
        sb.stop()
    deadline = time.monotonic() + 10
    while _qemu_pids(sid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _qemu_pids(sid) == []
    assert bridge not in _links("fpsb")
    assert not [n for n in _netns() if bridge.removeprefix("fpsb") in n]
    assert not _links(f"fpt{sid.replace('-', '')[:8]}")
    assert not state.exists()


@pytest.fixture(scope="module")
def qsb() -> Iterator[Sandbox]:
    sb = Sandbox(make_config(guests={"kind": "qemu", "boot_timeout": 30})).start()
    try:
        assert sb.guest_kind == "qemu"
        yield sb
    finally:
        sb.stop()


@pytest.fixture
def api(qsb: Sandbox) -> Iterator[Api]:
    client = Api(qsb)
    yield client
    qsb.set_faults()
    for s in client.get("/compute/v2.1/servers").json()["servers"]:
        client.delete(f"/compute/v2.1/servers/{s['id']}")


def test_full_lifecycle_against_a_real_vm(qsb: Sandbox) -> None:
    run = vm(qsb, "-v", timeout=120)
    assert run.state == "OK", run.out + run.err
    for name in PHASES:
        assert " passed " in run.phase(name), run.phase(name)
    # every phase was real: the config drive read inside the guest, MJF fetched by the guest
    # from the metadata URLs, both families answered by the guest's own port 22
    assert "metadata via config-2" in run.phase("context")
    assert "13 keys valid (via metadata)" in run.phase("mjf")
    assert "198.51.100." in run.phase("reach_v4") and "open after" in run.phase("reach_v4")
    assert "[2001:db8:" in run.phase("reach_v6") and "open after" in run.phase("reach_v6")
    assert not qsb.live_servers()


def test_a_warm_run_reaches_the_new_vm_over_ipv6_at_once(qsb: Sandbox, tmp_path: Path) -> None:
    """A second run paces its polls from the first and sees ACTIVE at once; the new VM (at the
    address the last one had) must answer over IPv6 then, as on a cloud's network. With
    multicast snooping on the sandbox bridge, its IPv6 SYNs were lost for 20-50 s."""
    from probes import drivers
    from probes.config.sources import build, from_sites_file
    from probes.deadline import Deadline
    from probes.runner.custody import make
    from probes.runner.lifecycle import LifecycleRunner

    site = build([("sites file", from_sites_file(qsb.sites_yaml, "sandbox", None))])
    custody = make("plugin", "warm.example.org", tmp_path / "state", os.environ)
    for _ in range(2):
        result = LifecycleRunner(site, custody, Deadline(90), Deadline(100),
                                 drivers.create).run()
        v6 = result.phase("reach_v6")
        assert v6.outcome.value == "passed" and (v6.duration or 0) < 5, v6.detail


def test_serial_console_is_the_guests(api: Api) -> None:
    script = ("#!/bin/sh\nip -4 route\n"
              # the metadata service over IPv6 link-local too, telling this guest by its address
              "timeout 5 wget -q -O- 'http://[fe80::a9fe:a9fe%eth0]/openstack/latest/"
              "meta_data.json'; echo\necho user-data-says-$(hostname)\n")
    sid = api.create_server("console", user_data=script).json()["server"]["id"]
    doc = api.wait_status(sid, "ACTIVE", 60)
    text = api.wait_console(sid, "user-data-says-console", 30)
    assert BOOT_MARKER in text and "cloud-amd64" in text  # the guest's own kernel
    assert "config drive /dev/vda" in text
    # network_data.json's routes, as Neutron's isolated metadata gives them
    assert re.search(r"^default via 198\.51\.100\.1 dev eth0", text, re.M), text
    assert re.search(r"^169\.254\.169\.254 via 198\.51\.100\.\d+ dev eth0", text, re.M), text
    assert f'"uuid": "{sid}"' in text, text
    addrs = [a["addr"] for net in doc["addresses"].values() for a in net]
    assert any(":" in a for a in addrs) and any("." in a for a in addrs)
    assert len(_qemu_pids(sid)) == 1
    api.delete(f"/compute/v2.1/servers/{sid}")
    api.wait_gone(sid, 30)
    # delete killed QEMU and removed its tap and files
    assert _qemu_pids(sid) == []
    assert f"fpt{sid.replace('-', '')[:8]}" not in _links("fpt")


def test_guest_that_never_boots_is_an_error_with_its_console(qsb: Sandbox, api: Api) -> None:
    qsb.set_faults(guest_never_boots=True)
    sid = api.create_server("hang").json()["server"]["id"]
    doc = api.wait_status(sid, "ERROR", 60)
    assert "did not boot within 30s" in doc["fault"]["message"]
    assert "told to hang" in doc["fault"]["message"]  # the console's tail


def test_qemu_killed_mid_run_is_an_error(api: Api) -> None:
    sid = api.create_server("victim").json()["server"]["id"]
    api.wait_status(sid, "ACTIVE", 60)
    [pid] = _qemu_pids(sid)
    os.kill(pid, 9)
    doc = api.wait_status(sid, "ERROR", 10)
    assert "QEMU exited (killed by SIGKILL)" in doc["fault"]["message"]


def test_console_forbidden_still_judged_by_policy(qsb: Sandbox) -> None:
    qsb.set_faults(console_forbidden=True)
    run = vm(qsb, "-v", timeout=120)
    assert run.state == "UNKNOWN", run.out
    assert "unavailable" in run.phase("context")
    assert not qsb.live_servers()


def test_a_real_vm_posts_its_report_home_when_the_console_is_forbidden(qsb: Sandbox) -> None:
    qsb.set_faults(console_forbidden=True)
    # the guest's busybox wget reaches this run's listener on the sandbox's bridge address
    run = vm(qsb, "-vv", "--report-listen", "198.51.100.1:0", timeout=120)
    assert run.state == "OK", run.out + run.err
    assert "(report posted home)" in run.phase("context"), run.phase("context")
    assert "metadata via config-2" in run.phase("context")
    assert not qsb.live_servers()
