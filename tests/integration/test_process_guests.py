"""Process guests: the user-data really runs, its output is the console, the guest answers on
its addresses while ACTIVE, and nothing it started survives delete or sandbox shutdown — not
even processes it daemonised, nor a killed sandbox (each guest is a pid namespace)."""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from probes.sandbox import Sandbox
from probes.sandbox.guests.base import SSH_BANNER
from probes.sandbox.guests.process import REACH_PORT_KEY
from tests.conftest import Api, make_config


def banner(addr: str, port: int) -> bytes:
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(5)
        sock.connect((addr, port))
        return sock.recv(100)


def pid_alive(pid: int) -> bool:
    """Running (a killed orphan may linger as a zombie until init reaps it: that is dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_user_data_runs_once_and_console_has_its_output(api: Api) -> None:
    nonce = secrets.token_hex(12)
    script = (f"#!/bin/sh\necho begin-{nonce}\necho total_cpu=$(cat $MACHINEFEATURES/total_cpu)\n"
              f"echo job_id=$(cat $JOBFEATURES/job_id)\necho end-{nonce}\n")
    sid = api.create_server("ud", user_data=script).json()["server"]["id"]
    doc = api.wait_status(sid, "ACTIVE")
    text = api.wait_console(sid, f"end-{nonce}")
    assert text.count(f"begin-{nonce}") == 1
    assert "total_cpu=2" in text and f"job_id={sid}" in text
    assert "exited with status 0" in api.wait_console(sid, "exited with status")
    lines = api.console(sid, 2).json()["output"].splitlines()
    assert len(lines) == 2
    assert api.console(sid, 0).json()["output"] == ""
    addrs = {a["version"]: a["addr"] for a in doc["addresses"]["demo-net"]}
    assert addrs[4].startswith("127.77.") and addrs[6] == "::1"


def test_reachable_on_both_families_while_active_only(api: Api) -> None:
    sid = api.create_server("reach").json()["server"]["id"]
    doc = api.wait_status(sid, "ACTIVE")
    port = int(doc["metadata"][REACH_PORT_KEY])
    for entry in doc["addresses"]["demo-net"]:
        assert banner(entry["addr"], port) == SSH_BANNER
    api.delete(f"/compute/v2.1/servers/{sid}")
    api.wait_gone(sid)
    with pytest.raises(OSError):
        banner(doc["addresses"]["demo-net"][0]["addr"], port)


def test_two_guests_get_distinct_addresses(api: Api) -> None:
    ids = [api.create_server(f"g{i}").json()["server"]["id"] for i in range(2)]
    docs = [api.wait_status(i, "ACTIVE") for i in ids]
    v4 = {d["addresses"]["demo-net"][0]["addr"] for d in docs}
    ports = {d["metadata"][REACH_PORT_KEY] for d in docs}
    assert len(v4) == 2 and len(ports) == 2


def test_networks_none_means_no_addresses(api: Api) -> None:
    resp = api.create_server("isolated", networks="none")
    assert resp.status_code == 202, resp.text
    doc = api.wait_status(resp.json()["server"]["id"], "ACTIVE")
    assert doc["addresses"] == {}


def test_non_script_user_data_is_not_executed(api: Api) -> None:
    sid = api.create_server("cc", user_data="#cloud-config\nruncmd: [touch /tmp/x]\n")
    sid_ = sid.json()["server"]["id"]
    api.wait_status(sid_, "ACTIVE")
    assert "no #! user-data script" in api.wait_console(sid_, "user-data")


def test_guest_environment_does_not_inherit_the_sandbox_secrets(
        sandbox_factory: Callable[..., Sandbox], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_PASSWORD", "canary-secret-9f1c")
    api = Api(sandbox_factory())
    sid = api.create_server("env", user_data="#!/bin/sh\nenv\necho env-done\n")
    text = api.wait_console(sid.json()["server"]["id"], "env-done")
    assert "canary-secret-9f1c" not in text
    assert "MACHINEFEATURES=" in text


def running_with(arg: str) -> list[int]:
    """Pids of live processes with this exact argument (a unique one: only the test's own)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:  # gone meanwhile
            continue
        if arg.encode() in argv and pid_alive(int(entry.name)):
            found.append(int(entry.name))
    return found


def wait_for(check: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def unique_sleep() -> str:
    """A sleep duration no other process on the machine has in its command line."""
    return f"600.{secrets.randbelow(10**9):09d}"


def leaving(tag: str) -> str:
    """User-data leaving processes behind and exiting: one daemonised (its own session), one in
    the background of the script's process group, as user-data scripts start services."""
    return f"#!/bin/sh\n( setsid sleep {tag} & )\nsleep {tag} &\necho started\nexit 3\n"


def boot_leaving(api: Api, tag: str) -> str:
    sid = str(api.create_server("leaver", user_data=leaving(tag)).json()["server"]["id"])
    api.wait_status(sid, "ACTIVE")
    api.wait_console(sid, "exited with status")
    wait_for(lambda: len(running_with(tag)) == 2)
    return sid


def test_delete_kills_what_the_exited_script_left_running(
        sandbox_factory: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = sandbox_factory(make_config(), state_dir=tmp_path / "state")
    api = Api(sb)
    tag, other = unique_sleep(), unique_sleep()
    sid = boot_leaving(api, tag)
    keep = boot_leaving(api, other)
    api.delete(f"/compute/v2.1/servers/{sid}")
    api.wait_gone(sid)
    wait_for(lambda: not running_with(tag), timeout=2)
    assert len(running_with(other)) == 2  # another server's processes are its own
    assert not (tmp_path / "state" / "guests" / sid).exists()
    assert api.server(keep)["status"] == "ACTIVE"


def test_shutdown_kills_what_every_guest_left_running(
        sandbox_factory: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = sandbox_factory(make_config(), state_dir=tmp_path / "state")
    api = Api(sb)
    tags = [unique_sleep(), unique_sleep()]
    for tag in tags:
        boot_leaving(api, tag)
    sb.stop()
    wait_for(lambda: not any(running_with(t) for t in tags), timeout=2)
    guests = tmp_path / "state" / "guests"
    assert not guests.exists() or not any(guests.iterdir())


def boot_waiting(api: Api, tag: str) -> str:
    """A server whose user-data keeps running: it waits for a child, deaf to SIGTERM."""
    script = f"#!/bin/sh\ntrap '' TERM\nsleep {tag} &\necho waiting\nwait\n"
    sid = str(api.create_server("busy", user_data=script).json()["server"]["id"])
    api.wait_console(sid, "waiting")
    wait_for(lambda: len(running_with(tag)) == 1)
    return sid


def test_delete_kills_a_script_still_running(sandbox_factory: Callable[..., Sandbox],
                                             tmp_path: Path) -> None:
    sb = sandbox_factory(make_config(), state_dir=tmp_path / "state")
    api = Api(sb)
    tag = unique_sleep()
    sid = boot_waiting(api, tag)
    api.delete(f"/compute/v2.1/servers/{sid}")  # SIGTERM is ignored: SIGKILL it is
    api.wait_gone(sid)
    wait_for(lambda: not running_with(tag), timeout=2)


def test_exit_status_is_said_once_and_the_guest_stays_up(api: Api) -> None:
    tag = unique_sleep()
    sid = boot_leaving(api, tag)
    time.sleep(1.2)  # the server's life loop checks the guest every 0.5 s
    text = api.console(sid).json()["output"]
    assert text.count("cloud-init: user-data script exited with status") == 1
    assert "cloud-init: user-data script exited with status 3\n" in text
    assert text.index("started") < text.index("exited with status 3")
    assert api.server(sid)["status"] == "ACTIVE"
    assert len(running_with(tag)) == 2  # as on a VM: the services it started keep running
    api.delete(f"/compute/v2.1/servers/{sid}")
    api.wait_gone(sid)


def test_a_killed_guest_init_sends_the_server_to_error(
        sandbox_factory: Callable[..., Sandbox], tmp_path: Path) -> None:
    sb = sandbox_factory(make_config(), state_dir=tmp_path / "state")
    api = Api(sb)
    tag = unique_sleep()
    sid = boot_waiting(api, tag)
    script = str(tmp_path / "state" / "guests" / sid / "user-data")
    unshare = [p for p in running_with(script)
               if Path(f"/proc/{p}/comm").read_text().strip() == "unshare"]
    assert len(unshare) == 1
    os.kill(unshare[0], signal.SIGKILL)  # as a VM's hypervisor process crashing
    doc = api.wait_status(sid, "ERROR", timeout=10)
    assert "guest init exited unexpectedly" in doc["fault"]["message"]
    # Nova shows no console in ERROR: the guest's console file is what it would be
    console = tmp_path / "state" / "guests" / sid / "console.log"
    wait_for(lambda: "user-data script did not finish" in console.read_text())
    assert "user-data script exited with status" not in console.read_text()
    wait_for(lambda: not running_with(tag), timeout=2)


def test_a_killed_sandbox_leaves_no_guest_process(tmp_path: Path) -> None:
    tag = unique_sleep()
    proc = subprocess.Popen([sys.executable, "-m", "probes", "sandbox", "--guests", "process",
                             "--state-dir", str(tmp_path / "state")],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if line.startswith("Stop with"):
                break
        info = json.loads((tmp_path / "state" / "sandbox.json").read_text())
        sb = SimpleNamespace(base_url=info["base_url"], ca_file=info.get("ca_file"))
        api = Api(sb)  # type: ignore[arg-type]
        boot_leaving(api, tag)
    finally:
        proc.kill()  # SIGKILL: no clean-up runs in the sandbox
        proc.wait(timeout=10)
    wait_for(lambda: not running_with(tag), timeout=5)
