"""`fedprobe sandbox` as an operator runs it: a subprocess that prints where it listens, serves
clients, and on SIGTERM/Ctrl-C removes every guest; bad config gives one line and exit 2."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

FEDPROBE = [sys.executable, "-m", "probes"]


def start(tmp_path: Path, *args: str) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen([*FEDPROBE, "sandbox", "--state-dir", str(tmp_path / "state"),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("Stop with"):
            info = json.loads((tmp_path / "state" / "sandbox.json").read_text())
            return proc, info
    proc.kill()
    raise AssertionError("sandbox did not start:\n" + "".join(lines) + proc.stderr.read())


def token(info: dict[str, str], verify: str | bool = True) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "demo", "domain": {"id": "default"}, "password": "sandbox-demo-pw"}}},
        "scope": {"project": {"name": "demo", "domain": {"id": "default"}}}}}
    resp = requests.post(info["auth_url"] + "/auth/tokens", json=body, verify=verify, timeout=10)
    assert resp.status_code == 201
    return str(resp.headers["X-Subject-Token"])


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serves_then_cleans_up_guests_on_signal(tmp_path: Path, sig: signal.Signals) -> None:
    proc, info = start(tmp_path, "--guests", "process")
    try:
        headers = {"X-Auth-Token": token(info), "OpenStack-API-Version": "compute 2.79"}
        base = info["base_url"]
        image = requests.get(f"{base}/image/v2/images?name=cirros-0.6.2-x86_64",
                             headers=headers, timeout=10).json()["images"][0]["id"]
        net = requests.get(f"{base}/networking/v2.0/networks?name=demo-net", headers=headers,
                           timeout=10).json()["networks"][0]["id"]
        marker = tmp_path / "still-running"
        script = f"#!/bin/sh\nwhile true; do date > {marker}; sleep 0.2; done\n"
        resp = requests.post(f"{base}/compute/v2.1/servers", headers=headers, timeout=10, json={
            "server": {"name": "long", "imageRef": image, "flavorRef": "42",
                       "networks": [{"uuid": net}],
                       "user_data": base64.b64encode(script.encode()).decode()}})
        assert resp.status_code == 202
        deadline = time.monotonic() + 20
        while not marker.exists():
            assert time.monotonic() < deadline, "the guest script never ran"
            time.sleep(0.05)
        ctl = {"X-Control-Token": (Path(info["control_token_file"]).read_text().strip())}
        live = requests.get(f"{base}/control/servers", headers=ctl, timeout=10).json()
        assert [s["name"] for s in live["servers"]] == ["long"]
        # the same sandbox answers on IPv6 loopback
        assert requests.get(info["base_url_v6"] + "/identity/v3", timeout=10).status_code == 200
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "guests removed" in out
    assert err == ""
    before = marker.stat().st_mtime
    time.sleep(0.6)
    assert marker.stat().st_mtime == before, "the guest's script survived the sandbox"
    assert not (tmp_path / "state" / "guests").exists() or \
        not any((tmp_path / "state" / "guests").iterdir())


def test_tls_prints_ca_and_clients_verify(tmp_path: Path) -> None:
    proc, info = start(tmp_path, "--tls", "--guests", "process")
    try:
        assert info["base_url"].startswith("https://")
        ca = info["ca_file"]
        assert token(info, verify=ca)
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(info["auth_url"], timeout=10)  # the system CAs do not know this one
        clouds = (tmp_path / "state" / "clouds.yaml").read_text()
        assert ca in clouds
        assert oct((tmp_path / "state" / "clouds.yaml").stat().st_mode & 0o777) == "0o600"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.mark.parametrize("content,needle", [
    ("flavors: [{name: x, vcpus: 0, ram: 1, disk: 1}]", "key 'flavors.0.vcpus' value 0"),
    ("bogus: 1", "key 'bogus'"),
    ("faults: {latency: {teleport: 1}}", "unknown operation 'teleport'"),
    ("identity: {users: [{name: u, password: p, projects: [nope]}]}", "unknown project 'nope'"),
    ("networks: [{name: n, subnets: [{cidr: 10.0.0.1/8}]}]", "networks.0.subnets.0.cidr"),
    ("[unclosed", "not valid YAML"),
    ("identity: {users: [{name: u, password: 12}]}", "<redacted>"),
])
def test_bad_config_is_one_line_and_exit_2(tmp_path: Path, content: str, needle: str) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(content)
    proc = subprocess.run([*FEDPROBE, "sandbox", "--config", str(cfg)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert str(cfg) in lines[0] and needle in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    proc = subprocess.run([*FEDPROBE, "sandbox", "--config", str(tmp_path / "nope.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"fedprobe sandbox: {tmp_path / 'nope.yaml'}: cannot read: " \
                                  "No such file or directory"


def test_help_and_version() -> None:
    out = subprocess.run([*FEDPROBE, "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "sandbox" in out.stdout
    ver = subprocess.run([*FEDPROBE, "--version"], capture_output=True, text=True, timeout=60)
    assert ver.returncode == 0 and ver.stdout.startswith("fedprobe ")


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = subprocess.run([*FEDPROBE, "sandbox", "--port", str(port), "--guests", "process"],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ})
    assert proc.returncode == 2
    assert proc.stderr.strip() == (f"fedprobe sandbox: cannot listen on 127.0.0.1:{port}: "
                                   "Address already in use")
