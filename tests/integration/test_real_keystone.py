"""`fedprobe keystone` and the login code against the real OpenStack Keystone from PyPI (slow:
~15 s to set up; `make test` installs it): password, application credential and token."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.keystone_server import Keystone, start

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystone]:
    ks = start(tmp_path_factory.mktemp("keystone"), "canary-admin-pw-2Rf")
    yield ks
    ks.stop()


def _admin_token(ks: Keystone) -> tuple[str, str]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": ks.admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    resp = requests.post(ks.url + "/auth/tokens", json=body, timeout=30)
    assert resp.status_code == 201, resp.text
    return resp.headers["X-Subject-Token"], resp.json()["token"]["user"]["id"]


def plugin(ks: Keystone, tmp_path: Path, *auth: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "probes", "keystone", "-v", "-H", ks.url, "--service",
           "identity", *auth]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_password(keystone: Keystone, tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text(keystone.admin_password)
    run = plugin(keystone, tmp_path, "--os-username", "admin", "--os-password-file",
                 str(secret), "--os-project-name", "admin")
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(f"KEYSTONE OK - Keystone at {keystone.url}: password in")
    assert "version_identity   OK" in run.stdout
    assert keystone.admin_password not in run.stdout + run.stderr


def test_application_credential(keystone: Keystone, tmp_path: Path) -> None:
    token, user_id = _admin_token(keystone)
    resp = requests.post(f"{keystone.url}/users/{user_id}/application_credentials",
                         headers={"X-Auth-Token": token}, timeout=30,
                         json={"application_credential": {"name": "fedprobe-test"}})
    assert resp.status_code == 201, resp.text
    cred = resp.json()["application_credential"]
    secret = tmp_path / "appcred"
    secret.write_text(cred["secret"])
    run = plugin(keystone, tmp_path, "--os-auth-type", "v3applicationcredential",
                 "--os-application-credential-id", cred["id"],
                 "--os-application-credential-secret-file", str(secret))
    assert run.returncode == 0, run.stdout
    assert "application_credential in" in run.stdout
    assert cred["secret"] not in run.stdout + run.stderr


def test_token_and_refusal(keystone: Keystone, tmp_path: Path) -> None:
    token, _ = _admin_token(keystone)
    tfile = tmp_path / "token"
    tfile.write_text(token)
    run = plugin(keystone, tmp_path, "--os-auth-type", "token", "--os-token-file", str(tfile),
                 "--os-project-name", "admin")
    assert run.returncode == 0, run.stdout
    assert token not in run.stdout + run.stderr
    wrong = tmp_path / "wrong"
    wrong.write_text("nope")
    refused = plugin(keystone, tmp_path, "--os-username", "admin", "--os-password-file",
                     str(wrong), "--os-project-name", "admin")
    assert refused.returncode == 2 and "credentials refused (HTTP 401)" in refused.stdout
