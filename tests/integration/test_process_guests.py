"""Process guests: the user-data really runs, its output is the console, the guest answers on
its addresses while ACTIVE, and nothing survives delete or sandbox shutdown."""

from __future__ import annotations

import secrets
import socket
import time
from collections.abc import Callable
from pathlib import Path

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


def test_delete_and_shutdown_leave_nothing(sandbox_factory: Callable[..., Sandbox],
                                           tmp_path: Path) -> None:
    sb = sandbox_factory(make_config(), state_dir=tmp_path / "state")
    api = Api(sb)
    pidfile = tmp_path / "pids"
    script = f"#!/bin/sh\necho $$ >> {pidfile}\nsleep 300 &\necho $! >> {pidfile}\nwait\n"
    first = api.create_server("a", user_data=script).json()["server"]["id"]
    second = api.create_server("b", user_data=script).json()["server"]["id"]
    for sid in (first, second):
        api.wait_status(sid, "ACTIVE")
    deadline = time.monotonic() + 10
    while len(pidfile.read_text().split() if pidfile.exists() else []) < 4:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pids = [int(p) for p in pidfile.read_text().split()]
    assert all(pid_alive(p) for p in pids)
    guests = tmp_path / "state" / "guests"
    assert (guests / first).is_dir()
    api.delete(f"/compute/v2.1/servers/{first}")
    api.wait_gone(first)
    assert not (guests / first).exists()
    sb.stop()  # the second guest is still running: shutdown must kill it too
    time.sleep(0.2)
    assert not any(pid_alive(p) for p in pids)
    assert not guests.exists() or not any(guests.iterdir())
