"""Federated logins against the real OpenStack Keystone, behind the layer a federated site has in
front of it (tests/keystone_front.py: mod_ssl's client-certificate variables, mod_auth_openidc's
bearer validation): X509 `mapped` with a VOMS proxy and OIDC `openid` with an EGI-style
entitlement, through `fedprobe keystone` and the vm probe's auth phase; refusals named.
Slow: ~15 s to set Keystone up."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from cryptography import x509

from probes.sandbox.tls import make_ca_and_server
from tests.keystone_federation import Federation, entitlement, federate
from tests.keystone_server import Keystone, Oidc, Tls, start
from tests.pki import Pki, make_pki
from tests.tokens import Issuer

pytestmark = pytest.mark.slow

VO = "vo.example.org"
ISSUER = "https://aai.example.org/auth/realms/egi"
ROBOT_DN = "CN=fedprobe robot,O=Robots,DC=example,DC=org"


@dataclass
class Site:
    ks: Keystone
    pki: Pki
    issuer: Issuer
    federation: Federation
    ca_file: str
    root: Path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root = tmp_path_factory.mktemp("federated-keystone")
    pki = make_pki(root / "pki")
    server = make_ca_and_server(root / "tls")
    issuer = Issuer(ISSUER, root)
    ks = start(root / "keystone", "canary-admin-pw-7Qx",
               tls=Tls(server.server_cert, server.server_key, server.ca_cert, pki.certdir),
               oidc=Oidc("egi.eu", "openid", ISSUER, issuer.public_key_file))
    try:
        ca = x509.load_pem_x509_certificate((pki.certdir / "testca.pem").read_bytes())
        fed = federate(ks, VO, x509_ca_dn=ca.subject.rfc4514_string(), oidc_issuer=ISSUER)
        yield Site(ks, pki, issuer, fed, str(server.ca_cert), root)
    finally:
        ks.stop()


def run(site: Site, plugin: str, *auth: str) -> subprocess.CompletedProcess[str]:
    # this Keystone's catalog has only itself in it
    services = ["--service", "identity"] if plugin == "keystone" else []
    cmd = [sys.executable, "-m", "probes", plugin, "-v", "-H", site.ks.url, "--cacert",
           site.ca_file, "--os-project-name", VO, *services, *auth]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def with_proxy(site: Site, proxy: Path, plugin: str = "keystone",
               *extra: str) -> subprocess.CompletedProcess[str]:
    return run(site, plugin, "--os-auth-type", "x509_mapped", "--os-identity-provider", "x509",
               "--os-x509-proxy", str(proxy), *extra)


def with_token(site: Site, token: str, plugin: str = "keystone",
               *extra: str) -> subprocess.CompletedProcess[str]:
    path = site.root / f"token-{abs(hash(token))}"
    path.write_text(token)
    return run(site, plugin, "--os-auth-type", "oidc_access_token", "--os-identity-provider",
               "egi.eu", "--os-protocol", "openid", "--os-access-token-file", str(path), *extra)


def users_named(site: Site, name: str) -> list[dict[str, str]]:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": site.ks.admin_password}}},
        "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
    token = requests.post(site.ks.url + "/auth/tokens", json=body, timeout=30,
                          verify=site.ca_file).headers["X-Subject-Token"]
    resp = requests.get(site.ks.url + "/users", params={"name": name}, timeout=30,
                        verify=site.ca_file, headers={"X-Auth-Token": token})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["users"])


def test_a_voms_proxy_logs_in_as_its_user_through_mapped(site: Site) -> None:
    for n in (1, 2):  # two proxies, one user: the identity is the certificate, not the proxy
        result = with_proxy(site, site.pki.proxy(f"fed-{n}", hours=24))
        assert result.returncode == 0, result.stdout + result.stderr
        assert result.stdout.startswith(f"KEYSTONE OK - Keystone at {site.ks.url}: "
                                        "x509_mapped in"), result.stdout
        assert "PRIVATE KEY" not in result.stdout + result.stderr
    assert len(users_named(site, ROBOT_DN)) == 1


def test_a_proxy_from_an_untrusted_ca_is_refused_in_the_handshake(site: Site) -> None:
    stranger = make_pki(site.root / "other-ca").proxy("stranger", hours=24)
    result = with_proxy(site, stranger)
    assert result.returncode == 2, result.stdout
    assert "the server refused the client certificate in the TLS handshake" in result.stdout


def test_an_egi_access_token_logs_in_through_openid(site: Site) -> None:
    token = site.issuer.token("robot@egi.eu", [entitlement(VO), entitlement("other.vo")])
    result = with_token(site, token)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "oidc_access_token via protocol openid in" in result.stdout.splitlines()[0]
    assert token not in result.stdout + result.stderr
    assert len(users_named(site, "robot@egi.eu")) == 1


def test_a_wrong_entitlement_is_refused_with_the_reason(site: Site) -> None:
    token = site.issuer.token("outsider@egi.eu", [entitlement("other.vo")])
    result = with_token(site, token)
    assert result.returncode == 2, result.stdout
    # Keystone hides why; the line says what it can mean and what the token claims
    assert ("openid: credentials refused (HTTP 401): the token is not valid at this site, or "
            "the identity it carries matches no rule of Keystone's mapping for egi.eu (the "
            "token's entitlements are for: other.vo)") in result.stdout, result.stdout
    assert "oidc: this protocol is not enabled at this Keystone" in result.stdout
    assert token not in result.stdout + result.stderr


@pytest.mark.parametrize("case", ["foreign key", "expired", "other issuer"])
def test_an_untrusted_token_is_refused_by_the_front_with_the_reason(site: Site,
                                                                     case: str) -> None:
    if case == "foreign key":
        token = Issuer(ISSUER, site.root, kid="forger").token("robot@egi.eu", [entitlement(VO)])
        reason = "signature does not verify"
    elif case == "expired":
        token = site.issuer.token("robot@egi.eu", [entitlement(VO)], lifetime=-60)
        reason = "expired"
    else:
        token = site.issuer.token("robot@egi.eu", [entitlement(VO)],
                                  issuer="https://evil.example.org")
        reason = "not from the trusted issuer"
    result = with_token(site, token)
    assert result.returncode == 2, result.stdout
    assert reason in result.stdout, result.stdout


def test_spoofed_claim_headers_do_not_log_in(site: Site) -> None:
    url = f"{site.ks.url}/OS-FEDERATION/identity_providers/egi.eu/protocols/openid/auth"
    spoof = {"OIDC-sub": "admin", "OIDC-iss": ISSUER, "OIDC-eduperson_entitlement":
             entitlement(VO)}
    resp = requests.post(url, headers=spoof, timeout=30, verify=site.ca_file)
    assert resp.status_code == 401
    assert 'error="invalid_request"' in resp.headers["WWW-Authenticate"]


@pytest.mark.parametrize("how", ["proxy", "token"])
def test_the_vm_probe_auth_phase_passes(site: Site, how: str) -> None:
    extra = ("-t", "30", "--image-name", "cirros")
    if how == "proxy":
        result = with_proxy(site, site.pki.proxy("vm", hours=24), "vm", *extra)
    else:
        result = with_token(site, site.issuer.token("robot@egi.eu", [entitlement(VO)]), "vm",
                            *extra)
    auth = [line for line in result.stdout.splitlines() if line.startswith("auth ")]
    assert auth and auth[0].split()[1] == "passed", result.stdout
    assert auth[0].endswith(f"project {site.federation.project_id}"), result.stdout
    # this Keystone has no other service: the run stops at discovery, said as such
    assert result.returncode == 2 and "no image endpoint in the catalog" in result.stdout
