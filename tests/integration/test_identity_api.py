"""Keystone v3 over real HTTP: discovery, every auth method, scoping, validation, revocation,
federation with OIDC bearer tokens, expiry, and the same over IPv6 loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from probes.sandbox import Sandbox
from probes.sandbox.config import IdentityProvider, OidcToken, SandboxConfig
from tests.conftest import DEMO_SCOPE, DEMO_USER, Api, make_config

FED = "/identity/v3/OS-FEDERATION/identity_providers/{idp}/protocols/{proto}/auth"
OIDC = "sandbox-oidc-access-token"


def auth(base: str, identity: dict[str, Any], scope: dict[str, Any] | None = None,
         query: str = "") -> requests.Response:
    body: dict[str, Any] = {"auth": {"identity": identity}}
    if scope is not None:
        body["auth"]["scope"] = scope
    return requests.post(f"{base}/identity/v3/auth/tokens{query}", json=body, timeout=10)


def password(user: dict[str, Any] = DEMO_USER) -> dict[str, Any]:
    return {"methods": ["password"], "password": {"user": user}}


def test_version_discovery(sandbox: Sandbox) -> None:
    root = requests.get(sandbox.base_url + "/identity", timeout=10)
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["id"].startswith("v3")
    for path in ("/identity/v3", "/identity/v3/"):
        doc = requests.get(sandbox.base_url + path, timeout=10).json()["version"]
        assert doc["links"][0]["href"] == sandbox.auth_url + "/"


def test_password_token_body_and_catalog(sandbox: Sandbox) -> None:
    resp = auth(sandbox.base_url, password(), DEMO_SCOPE)
    assert resp.status_code == 201
    assert resp.headers["X-Subject-Token"]
    token = resp.json()["token"]
    assert token["methods"] == ["password"]
    assert token["user"]["name"] == "demo" and token["project"]["name"] == "demo"
    assert {r["name"] for r in token["roles"]} >= {"member"}
    catalog = {s["type"]: s for s in token["catalog"]}
    assert set(catalog) == {"identity", "compute", "image", "network"}
    public = next(e for e in catalog["compute"]["endpoints"] if e["interface"] == "public")
    assert public["region_id"] == "RegionOne"
    assert public["url"] == sandbox.base_url + "/compute/v2.1"
    assert token["expires_at"] > time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
    bare = auth(sandbox.base_url, password(), DEMO_SCOPE, "?nocatalog").json()["token"]
    assert "catalog" not in bare


def test_user_by_id_and_project_by_id(sandbox: Sandbox) -> None:
    first = auth(sandbox.base_url, password(), DEMO_SCOPE).json()["token"]
    again = auth(sandbox.base_url,
                 password({"id": first["user"]["id"], "password": "sandbox-demo-pw"}),
                 {"project": {"id": first["project"]["id"]}})
    assert again.status_code == 201
    assert again.json()["token"]["project"]["id"] == first["project"]["id"]


@pytest.mark.parametrize("identity,scope,status", [
    (password({**DEMO_USER, "password": "wrong"}), DEMO_SCOPE, 401),
    (password({**DEMO_USER, "name": "ghost"}), DEMO_SCOPE, 401),
    (password(), {"project": {"name": "ops.example.org", "domain": {"id": "default"}}}, 401),
    (password(), {"project": {"id": "nope"}}, 401),
    ({"methods": ["kerberos"]}, None, 401),
    ({"methods": "password"}, None, 400),
    (password({"name": "demo", "password": "sandbox-demo-pw"}), None, 400),
])
def test_refusals(sandbox: Sandbox, identity: dict[str, Any], scope: dict[str, Any] | None,
                  status: int) -> None:
    resp = auth(sandbox.base_url, identity, scope)
    assert resp.status_code == status
    assert resp.json()["error"]["code"] == status
    assert "X-Subject-Token" not in resp.headers


def test_malformed_body(sandbox: Sandbox) -> None:
    resp = requests.post(sandbox.auth_url + "/auth/tokens", data=b"{nope", timeout=10)
    assert resp.status_code == 400


def test_application_credential(sandbox: Sandbox) -> None:
    cred = {"methods": ["application_credential"],
            "application_credential": {"id": "sandbox-appcred-demo",
                                       "secret": "sandbox-appcred-secret"}}
    resp = auth(sandbox.base_url, cred)
    assert resp.status_code == 201
    token = resp.json()["token"]
    assert token["project"]["name"] == "demo"
    assert token["application_credential"]["id"] == "sandbox-appcred-demo"
    assert auth(sandbox.base_url, cred, DEMO_SCOPE).status_code == 401
    wrong = {**cred, "application_credential": {"id": "sandbox-appcred-demo", "secret": "x"}}
    assert auth(sandbox.base_url, wrong).status_code == 401


def test_unscoped_then_rescoped_token(sandbox: Sandbox) -> None:
    unscoped = auth(sandbox.base_url, password())
    assert unscoped.status_code == 201 and "project" not in unscoped.json()["token"]
    tid = unscoped.headers["X-Subject-Token"]
    nova = requests.get(sandbox.base_url + "/compute/v2.1/servers",
                        headers={"X-Auth-Token": tid}, timeout=10)
    assert nova.status_code == 403
    vo = {"project": {"name": "vo.example.org", "domain": {"id": "default"}}}
    scoped = auth(sandbox.base_url, {"methods": ["token"], "token": {"id": tid}}, vo)
    assert scoped.status_code == 201
    body = scoped.json()["token"]
    assert body["project"]["name"] == "vo.example.org"
    assert body["expires_at"] == unscoped.json()["token"]["expires_at"]
    assert body["audit_ids"] == unscoped.json()["token"]["audit_ids"]
    assert auth(sandbox.base_url, {"methods": ["token"], "token": {"id": "bogus"}},
                vo).status_code == 401


def test_validate_head_revoke(api: Api) -> None:
    url = api.sb.auth_url + "/auth/tokens"
    other = api.password_token()
    hdr = {"X-Auth-Token": api.token, "X-Subject-Token": other}
    got = requests.get(url, headers=hdr, timeout=10)
    assert got.status_code == 200 and got.headers["X-Subject-Token"] == other
    assert requests.head(url, headers=hdr, timeout=10).status_code == 200
    assert requests.get(url, headers={**hdr, "X-Subject-Token": "bogus"},
                        timeout=10).status_code == 404
    assert requests.delete(url, headers=hdr, timeout=10).status_code == 204
    assert requests.get(url, headers=hdr, timeout=10).status_code == 404
    revoked = requests.get(api.base + "/compute/v2.1/flavors",
                           headers={"X-Auth-Token": other}, timeout=10)
    assert revoked.status_code == 401


def test_projects_and_catalog_calls(api: Api) -> None:
    projects = api.get("/identity/v3/auth/projects").json()["projects"]
    assert sorted(p["name"] for p in projects) == ["demo", "vo.example.org"]
    catalog = api.get("/identity/v3/auth/catalog").json()["catalog"]
    assert {s["type"] for s in catalog} == {"identity", "compute", "image", "network"}
    user_id = requests.get(api.sb.auth_url + "/auth/tokens", timeout=10, headers={
        "X-Auth-Token": api.token, "X-Subject-Token": api.token}).json()["token"]["user"]["id"]
    mine = api.get(f"/identity/v3/users/{user_id}/projects").json()["projects"]
    assert len(mine) == 2
    assert api.get("/identity/v3/users/someone-else/projects").status_code == 403


@pytest.mark.parametrize("method", ["POST", "GET"])
def test_federated_oidc_login_then_scope(sandbox: Sandbox, method: str) -> None:
    url = sandbox.base_url + FED.format(idp="egi.eu", proto="openid")
    resp = requests.request(method, url, headers={"Authorization": f"Bearer {OIDC}"},
                            timeout=10)
    assert resp.status_code == 201
    token = resp.json()["token"]
    assert "project" not in token
    assert token["user"]["OS-FEDERATION"]["identity_provider"]["id"] == "egi.eu"
    unscoped = resp.headers["X-Subject-Token"]
    projects = requests.get(sandbox.auth_url + "/auth/projects", timeout=10,
                            headers={"X-Auth-Token": unscoped}).json()["projects"]
    assert [p["name"] for p in projects] == ["vo.example.org"]
    scoped = auth(sandbox.base_url, {"methods": ["token"], "token": {"id": unscoped}},
                  {"project": {"id": projects[0]["id"]}})
    assert scoped.status_code == 201
    flavors = requests.get(sandbox.base_url + "/compute/v2.1/flavors", timeout=10,
                           headers={"X-Auth-Token": scoped.headers["X-Subject-Token"]})
    assert flavors.status_code == 200


@pytest.mark.parametrize("idp,proto,bearer,status", [
    ("egi.eu", "oidc", OIDC, 404),
    ("unknown", "openid", OIDC, 404),
    ("egi.eu", "openid", "wrong-token", 401),
    ("egi.eu", "openid", "", 401),
])
def test_federation_refusals(sandbox: Sandbox, idp: str, proto: str, bearer: str,
                             status: int) -> None:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    resp = requests.post(sandbox.base_url + FED.format(idp=idp, proto=proto), headers=headers,
                         timeout=10)
    assert resp.status_code == status


def test_both_protocol_names_when_configured(sandbox_factory: Callable[..., Sandbox]) -> None:
    identity = SandboxConfig().identity.model_copy(update={"identity_providers": [
        IdentityProvider(id="egi.eu", protocols=["openid", "oidc"],
                         tokens=[OidcToken(token=OIDC, user="u@egi.eu",
                                           projects=["vo.example.org"])])]})
    sb = sandbox_factory(make_config(identity=identity.model_dump()))
    for proto in ("openid", "oidc"):
        resp = requests.post(sb.base_url + FED.format(idp="egi.eu", proto=proto), timeout=10,
                             headers={"Authorization": f"Bearer {OIDC}"})
        assert resp.status_code == 201
        assert resp.json()["token"]["methods"] == [proto]


def test_token_lifetime(sandbox_factory: Callable[..., Sandbox]) -> None:
    identity = SandboxConfig().identity.model_copy(update={"token_lifetime": 1.0})
    api = Api(sandbox_factory(make_config(identity=identity.model_dump())))
    assert api.get("/compute/v2.1/flavors").status_code == 200
    time.sleep(1.2)
    assert api.get("/compute/v2.1/flavors").status_code == 401


def test_token_cut_short_by_fault(sandbox: Sandbox) -> None:
    sandbox.set_faults(token_valid_for=0.5)
    api = Api(sandbox)
    assert api.get("/compute/v2.1/flavors").status_code == 200
    time.sleep(0.7)
    assert api.get("/compute/v2.1/flavors").status_code == 401
    check = auth(sandbox.base_url, password(), DEMO_SCOPE).json()["token"]
    assert check["expires_at"] > time.strftime("%Y-%m-%dT%H:%M:%S",
                                               time.gmtime(time.time() + 3000))


def test_keystone_over_ipv6(sandbox: Sandbox) -> None:
    assert sandbox.base_url_v6 is not None
    api = Api(sandbox, base=sandbox.base_url_v6)
    catalog = api.get("/identity/v3/auth/catalog").json()["catalog"]
    urls = [e["url"] for s in catalog for e in s["endpoints"]]
    assert urls and all(u.startswith(sandbox.base_url_v6) for u in urls)
