"""Every authentication method of `fedprobe vm` against the sandbox over TLS, including the
OIDC protocol fallback (openid <-> oidc) and refresh tokens; and no secret ever shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from probes.sandbox import Sandbox, SandboxConfig
from tests.conftest import make_config

pytestmark = pytest.mark.slow


def vm(sb: Sandbox, site: str, *args: str, sites: Path | None = None,
       env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "probes", "vm", "-v", "--sites", str(sites or sb.sites_yaml),
           "--site", site, "-t", "60", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90,
                          env=env or dict(os.environ))


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    return sandbox_factory(make_config(), tls=True)


@pytest.mark.parametrize("site,method", [
    ("sandbox", "password"), ("sandbox-appcred", "application_credential"),
    ("sandbox-oidc", "oidc_access_token via protocol openid"),
    ("sandbox-oidc-refresh", "oidc_refresh_token via protocol openid"),
])
def test_methods(sb: Sandbox, site: str, method: str) -> None:
    run = vm(sb, site)
    assert run.returncode == 0, run.stdout
    assert "auth      passed" in run.stdout and method in run.stdout


def _with_site(sb: Sandbox, tmp_path: Path, name: str, **auth: object) -> Path:
    data = yaml.safe_load(sb.sites_yaml.read_text())
    data["sites"][name] = {"auth": {**data["sites"]["sandbox-oidc"]["auth"], **auth}}
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_oidc_protocol_fallback(sandbox_factory: Callable[..., Sandbox], tmp_path: Path) -> None:
    identity = SandboxConfig().identity.model_dump()
    identity["identity_providers"][0]["protocols"] = ["oidc"]  # an older site
    sb = sandbox_factory(make_config(identity=identity), tls=True)
    sites = _with_site(sb, tmp_path, "old-site", protocol="openid")
    run = vm(sb, "old-site", sites=sites)
    assert run.returncode == 0, run.stdout
    assert "oidc_access_token via protocol oidc" in run.stdout


def test_oidc_wrong_token_names_both_protocols(sb: Sandbox, tmp_path: Path) -> None:
    sites = _with_site(sb, tmp_path, "bad", access_token="wrong")
    run = vm(sb, "bad", sites=sites)
    assert run.returncode == 2
    assert ("openid: credentials refused (HTTP 401): the token is not valid at this site, or "
            "the identity it carries matches no rule of Keystone's mapping for egi.eu; "
            "oidc: not found (HTTP 404)") in run.stdout, run.stdout


def test_refresh_token_refused(sb: Sandbox, tmp_path: Path) -> None:
    data = yaml.safe_load(sb.sites_yaml.read_text())
    data["sites"]["stale"] = {"auth": {**data["sites"]["sandbox-oidc-refresh"]["auth"],
                                       "refresh_token": "expired-one"}}
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump(data))
    run = vm(sb, "stale", sites=path)
    assert run.returncode == 2 and "refused the refresh token (HTTP 400)" in run.stdout


def test_wrong_password(sb: Sandbox, tmp_path: Path) -> None:
    data = yaml.safe_load(sb.sites_yaml.read_text())
    data["sites"]["sandbox"]["auth"]["password"] = "nope"
    path = tmp_path / "sites.yaml"
    path.write_text(yaml.safe_dump(data))
    run = vm(sb, "sandbox", sites=path)
    assert run.returncode == 2
    assert "auth: password login at" in run.stdout and "credentials refused" in run.stdout


def test_os_cloud_and_env(sb: Sandbox) -> None:
    env = dict(os.environ, OS_CLIENT_CONFIG_FILE=str(sb.clouds_yaml))
    cmd = [sys.executable, "-m", "probes", "vm", "--os-cloud", "sandbox", "--image-name",
           "cirros-0.6.2-x86_64", "--port-metadata-key", "sandbox:reach_port", "-t", "60"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)
    assert run.stdout.startswith("FEDCLOUD_VM OK - VM lifecycle OK at sandbox"), run.stdout
    env = dict(os.environ, OS_AUTH_URL=sb.auth_url, OS_USERNAME="demo",
               OS_PASSWORD="sandbox-demo-pw", OS_PROJECT_NAME="demo", OS_CACERT=str(sb.ca_file))
    cmd = [sys.executable, "-m", "probes", "vm", "--image-name", "cirros-0.6.2-x86_64",
           "--port-metadata-key", "sandbox:reach_port", "-t", "60"]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=env)
    assert run.returncode == 0, run.stdout


def test_no_secret_anywhere(sandbox_factory: Callable[..., Sandbox], tmp_path: Path) -> None:
    canaries = {"pw": "canary-pw-7Qx", "app": "canary-app-9Lm", "oidc": "canary-oidc-3Vb",
                "refresh": "canary-refresh-5Kd"}
    identity = SandboxConfig().identity.model_dump()
    identity["users"][0]["password"] = canaries["pw"]
    identity["application_credentials"][0]["secret"] = canaries["app"]
    identity["identity_providers"][0]["tokens"][0].update(
        token=canaries["oidc"], refresh_token=canaries["refresh"])
    sb = sandbox_factory(make_config(identity=identity), tls=True)
    seen = ""
    for site in ("sandbox", "sandbox-appcred", "sandbox-oidc", "sandbox-oidc-refresh"):
        out = tmp_path / f"{site}.json"
        run = vm(sb, site, "-vvv", "--json", str(out))
        assert run.returncode == 0, run.stdout
        seen += run.stdout + run.stderr + out.read_text()
    failing = vm(sb, "sandbox", "-vvv", "--image-name", "nope")
    seen += failing.stdout + failing.stderr
    sb.set_faults(delete_never_completes=True)  # keep a VM to read its user-data and console
    kept = vm(sb, "sandbox-oidc-refresh", "-vvv", "-t", "8")
    seen += kept.stdout + kept.stderr
    assert sb.cloud is not None
    servers = sb.cloud.servers.all()
    assert servers and all(s.user_data for s in servers)
    for server in servers:
        seen += (server.user_data or b"").decode()
        seen += server.guest.console() if server.guest else ""
    seen += json.dumps([e.as_dict() for e in sb.request_log()])
    seen += json.dumps(sb.live_servers())
    for name, canary in canaries.items():
        assert canary not in seen, f"the {name} secret leaked"
    assert "DEBUG" in seen  # the -vvv debug output really was produced and scanned
