"""X509/VOMS logins against the sandbox over TLS with client certificates: the federation
`mapped` protocol and the legacy keystone-voms v2 path, used by `fedprobe keystone`, `api` and
the full `fedprobe vm` lifecycle; refused VOs, expired and untrusted proxies said clearly."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from probes.sandbox import Sandbox, SandboxConfig
from tests.conftest import make_config
from tests.pki import VO, Pki, make_pki

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def sb(sandbox_factory: Callable[..., Sandbox], pki: Pki) -> Sandbox:
    identity = SandboxConfig().identity.model_dump()
    identity["x509"] = {"client_ca": [str(pki.certdir)],
                        "mappings": [{"vo": VO, "project": "vo.example.org"}]}
    return sandbox_factory(make_config(identity=identity), tls=True)


def run(sb: Sandbox, plugin: str, proxy: Path, *extra: str,
        v2: bool = False) -> subprocess.CompletedProcess[str]:
    if v2:
        auth = ["-H", f"{sb.base_url}/identity/v2.0", "--os-auth-type", "x509_voms_v2"]
    else:
        auth = ["-H", sb.auth_url, "--os-auth-type", "x509_mapped",
                "--os-identity-provider", "x509"]
    cmd = [sys.executable, "-m", "probes", plugin, *auth, "--os-x509-proxy", str(proxy),
           "--os-project-name", "vo.example.org", "--cacert", str(sb.ca_file), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90)


def test_mapped_and_v2_logins(sb: Sandbox, pki: Pki) -> None:
    proxy = pki.proxy("good", hours=24)
    mapped = run(sb, "keystone", proxy, "-v")
    assert mapped.returncode == 0, mapped.stdout
    assert "auth               OK" in mapped.stdout and "x509_mapped" in mapped.stdout
    legacy = run(sb, "api", proxy, v2=True)
    assert legacy.returncode == 0, legacy.stdout
    assert legacy.stdout.startswith("CLOUD_API OK - compute, image and network APIs answer")


@pytest.mark.parametrize("v2", [False, True], ids=["mapped", "voms-v2"])
def test_vm_probe_runs_with_a_proxy(sb: Sandbox, pki: Pki, v2: bool) -> None:
    proxy = pki.proxy(f"vm-{v2}", hours=24)
    result = run(sb, "vm", proxy, "-v", "--image-name", "cirros-0.6.2-x86_64",
                 "--port-metadata-key", "sandbox:reach_port", "-t", "60", v2=v2)
    assert result.returncode == 0, result.stdout
    assert ("x509_voms_v2" if v2 else "x509_mapped") in result.stdout
    assert sb.live_servers() == []


def test_refusals_are_explained(sb: Sandbox, pki: Pki, tmp_path: Path) -> None:
    other_vo = pki.proxy("other", hours=24, vo="other.example.org", fqan="/other.example.org")
    refused = run(sb, "keystone", other_vo)
    assert refused.returncode == 2 and "credentials refused (HTTP 401)" in refused.stdout
    expired = pki.proxy("expired", pastproxy="13:00", pastac="13:00")
    late = run(sb, "keystone", expired)
    assert late.returncode == 2 and f"proxy {expired} expired at" in late.stdout
    stranger = make_pki(tmp_path / "other-ca").proxy("stranger", hours=24)
    untrusted = run(sb, "keystone", stranger)
    assert untrusted.returncode == 2
    assert "the server refused the client certificate" in untrusted.stdout
    no_ac = pki.proxy("noac", hours=24, vo=None)
    assert run(sb, "keystone", no_ac).returncode == 2
    for out in (refused, late, untrusted):
        assert "PRIVATE KEY" not in out.stdout + out.stderr
