"""Keystone v3 of the sandbox over real HTTP: version discovery, the password, application
credential and token methods, scoping, validation and revocation, OIDC federation, token expiry
(configured lifetime and the ``token_valid_for`` fault) and all of it over IPv6 loopback."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from probes.sandbox import Sandbox
from probes.sandbox.config import Identity
from tests.conftest import DEMO_SCOPE, DEMO_USER, Api, make_config

TOKENS = "/identity/v3/auth/tokens"
FED = "/identity/v3/OS-FEDERATION/identity_providers/{idp}/protocols/{proto}/auth"
OIDC_TOKEN = "sandbox-oidc-access-token"
VO_SCOPE = {"project": {"name": "vo.example.org", "domain": {"id": "default"}}}
UNAUTHORIZED = {"error": {"code": 401, "title": "Unauthorized",
                          "message": "The request you have made requires authentication."}}


# -- helpers --------------------------------------------------------------------------------------


def password(user: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"methods": ["password"], "password": {"user": user or DEMO_USER}}


def post_auth(base: str, identity: dict[str, Any], scope: dict[str, Any] | None = None,
              params: dict[str, str] | None = None) -> requests.Response:
    """POST /v3/auth/tokens with the given identity and (optional) scope."""
    auth: dict[str, Any] = {"identity": identity}
    if scope is not None:
        auth["scope"] = scope
    return requests.post(base + TOKENS, json={"auth": auth}, params=params, timeout=10)


def issued(resp: requests.Response) -> tuple[str, dict[str, Any]]:
    """(X-Subject-Token, token body) of a 201 answer."""
    assert resp.status_code == 201, resp.text
    token = resp.headers["X-Subject-Token"]
    assert token
    return token, dict(resp.json()["token"])


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def endpoint(token: dict[str, Any], service_type: str, interface: str = "public") -> str:
    """A catalog URL of the token body."""
    service = next(s for s in token["catalog"] if s["type"] == service_type)
    return str(next(e["url"] for e in service["endpoints"] if e["interface"] == interface))


def fed(base: str, bearer: str | None = OIDC_TOKEN, idp: str = "egi.eu",
        proto: str = "openid", method: str = "POST") -> requests.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return requests.request(method, base + FED.format(idp=idp, proto=proto), headers=headers,
                            timeout=10)


def validate(base: str, auth_token: str, subject: str, method: str = "GET") -> requests.Response:
    return requests.request(method, base + TOKENS, timeout=10,
                            headers={"X-Auth-Token": auth_token, "X-Subject-Token": subject})


def flavors_status(base: str, token: str) -> int:
    """Status of a Nova call with this token (the token's usability)."""
    return requests.get(base + "/compute/v2.1/flavors", headers={"X-Auth-Token": token},
                        timeout=10).status_code


def projects_status(base: str, token: str) -> int:
    """Status of a Keystone call authenticated with this token."""
    return requests.get(base + "/identity/v3/auth/projects", headers={"X-Auth-Token": token},
                        timeout=10).status_code


def wait_refused(base: str, token: str, timeout: float = 5.0) -> float:
    """Poll until Nova refuses the token (401); the time it took."""
    start = time.monotonic()
    while flavors_status(base, token) != 401:
        assert time.monotonic() - start < timeout, "token still accepted"
        time.sleep(0.05)
    return time.monotonic() - start


# -- version discovery ----------------------------------------------------------------------------
def test_version_discovery(sandbox: Sandbox) -> None:
    root = requests.get(sandbox.base_url + "/identity", timeout=10)
    assert root.status_code == 300
    values = root.json()["versions"]["values"]
    assert [v["id"] for v in values] == ["v3.14"]
    assert values[0]["status"] == "stable"
    assert values[0]["links"][0]["href"] == sandbox.auth_url + "/"
    for path in ("/identity/v3", "/identity/v3/"):
        resp = requests.get(sandbox.base_url + path, timeout=10)
        assert resp.status_code == 200, path
        doc = resp.json()["version"]
        assert doc["id"] == "v3.14" and doc["status"] == "stable"
        assert doc["links"] == [{"rel": "self", "href": sandbox.auth_url + "/"}]
        assert {m["base"] for m in doc["media-types"]} == {"application/json"}


# -- password method -------------------------------------------------------------------------------
def test_password_token_body(sandbox: Sandbox) -> None:
    before = datetime.now(UTC)
    token, body = issued(post_auth(sandbox.base_url, password(), DEMO_SCOPE))
    assert body["methods"] == ["password"]
    assert body["user"]["name"] == "demo"
    assert body["user"]["domain"] == {"id": "default", "name": "Default"}
    assert body["project"]["name"] == "demo"
    assert body["project"]["domain"]["id"] == "default"
    assert {"member", "reader"} <= {r["name"] for r in body["roles"]}
    expires, issued_at = parse_time(body["expires_at"]), parse_time(body["issued_at"])
    assert expires > datetime.now(UTC)
    assert abs((expires - before).total_seconds() - 3600) < 60  # the default lifetime
    assert issued_at <= expires
    # the catalog: the four services, every interface in RegionOne, under this base URL
    catalog = {s["type"]: s for s in body["catalog"]}
    assert set(catalog) == {"compute", "image", "network", "identity"}
    for service in catalog.values():
        assert {e["interface"] for e in service["endpoints"]} == {"public", "internal", "admin"}
        for ep in service["endpoints"]:
            assert ep["region_id"] == "RegionOne" and ep["region"] == "RegionOne"
            assert ep["url"].startswith(sandbox.base_url + "/")
    assert endpoint(body, "compute") == sandbox.base_url + "/compute/v2.1"
    assert endpoint(body, "image") == sandbox.base_url + "/image"
    assert endpoint(body, "network") == sandbox.base_url + "/networking"
    assert endpoint(body, "identity") == sandbox.base_url + "/identity"
    # the token is usable at the catalog's compute endpoint
    resp = requests.get(endpoint(body, "compute") + "/flavors",
                        headers={"X-Auth-Token": token}, timeout=10)
    assert resp.status_code == 200 and resp.json()["flavors"]


def test_nocatalog(sandbox: Sandbox) -> None:
    token, body = issued(post_auth(sandbox.base_url, password(), DEMO_SCOPE,
                                   params={"nocatalog": ""}))
    assert "catalog" not in body
    assert body["project"]["name"] == "demo" and body["roles"]
    # validation honours it too
    plain = validate(sandbox.base_url, token, token).json()["token"]
    assert plain["catalog"]
    bare = requests.get(sandbox.base_url + TOKENS + "?nocatalog", timeout=10,
                        headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert bare.status_code == 200 and "catalog" not in bare.json()["token"]


def test_user_by_id_and_project_by_id_or_name(sandbox: Sandbox) -> None:
    _, first = issued(post_auth(sandbox.base_url, password(), DEMO_SCOPE))
    user_id, project_id = first["user"]["id"], first["project"]["id"]
    _, by_id = issued(post_auth(sandbox.base_url,
                                password({"id": user_id, "password": "sandbox-demo-pw"}),
                                {"project": {"id": project_id}}))
    assert by_id["user"]["id"] == user_id and by_id["project"]["id"] == project_id
    # project by name with the domain given by name, the user's other project
    _, vo = issued(post_auth(sandbox.base_url,
                             password({"name": "demo", "domain": {"name": "Default"},
                                       "password": "sandbox-demo-pw"}),
                             {"project": {"name": "vo.example.org",
                                          "domain": {"name": "Default"}}}))
    assert vo["user"]["id"] == user_id
    assert vo["project"]["name"] == "vo.example.org" and vo["project"]["id"] != project_id


def test_unscoped_password_token(sandbox: Sandbox) -> None:
    token, body = issued(post_auth(sandbox.base_url, password()))
    assert body["methods"] == ["password"] and body["user"]["name"] == "demo"
    for key in ("project", "catalog", "roles"):
        assert key not in body
    # an unscoped token is fine for Keystone's own calls, not for the other services
    assert projects_status(sandbox.base_url, token) == 200
    assert flavors_status(sandbox.base_url, token) == 403
    catalog = requests.get(sandbox.base_url + "/identity/v3/auth/catalog",
                           headers={"X-Auth-Token": token}, timeout=10)
    assert catalog.status_code == 403 and catalog.json()["error"]["code"] == 403


@pytest.mark.parametrize("identity,scope", [
    pytest.param(password({**DEMO_USER, "password": "wrong"}), DEMO_SCOPE, id="bad-password"),
    pytest.param(password({**DEMO_USER, "name": "nobody"}), DEMO_SCOPE, id="unknown-user"),
    pytest.param(password({"id": "0" * 32, "password": "sandbox-demo-pw"}), None,
                 id="unknown-user-id"),
    pytest.param(password({**DEMO_USER, "domain": {"id": "other"}}), DEMO_SCOPE,
                 id="user-in-other-domain"),
    pytest.param(password(), {"project": {"name": "ops.example.org",
                                          "domain": {"id": "default"}}}, id="no-role-on-project"),
    pytest.param(password(), {"project": {"id": "0" * 32}}, id="unknown-project-id"),
    pytest.param(password(), {"domain": {"id": "default"}}, id="domain-scope"),
    pytest.param({"methods": ["kerberos"]}, None, id="unsupported-method"),
])
def test_refused_with_401(shared: Sandbox, identity: dict[str, Any],
                          scope: dict[str, Any] | None) -> None:
    resp = post_auth(shared.base_url, identity, scope)
    assert resp.status_code == 401, resp.text
    assert "X-Subject-Token" not in resp.headers
    error = resp.json()["error"]
    assert error["code"] == 401 and error["title"] == "Unauthorized" and error["message"]


@pytest.mark.parametrize("body", [
    pytest.param(b"this is not json", id="not-json"),
    pytest.param(b"[1, 2]", id="not-an-object"),
    pytest.param(b'{"no-auth": {}}', id="no-auth"),
    pytest.param(b'{"auth": {"identity": {"methods": "password"}}}', id="methods-not-a-list"),
    pytest.param(b'{"auth": {"scope": {}}}', id="no-identity"),
    pytest.param(b'{"auth": {"identity": {"methods": ["password"], "password": {}}}}',
                 id="password-without-user"),
    pytest.param(b'{"auth": {"identity": {"methods": ["password"], "password": "pw"}}}',
                 id="password-not-an-object"),
    pytest.param(b'{"auth": {"identity": {"methods": ["password"], "password": {"user": '
                 b'{"name": "demo", "password": "sandbox-demo-pw"}}}}}',
                 id="user-name-without-domain"),
    pytest.param(b'{"auth": {"identity": {"methods": ["token"], "token": "abc"}}}',
                 id="token-not-an-object"),
    pytest.param(b'{"auth": {"identity": {"methods": ["application_credential"], '
                 b'"application_credential": "sandbox-appcred-demo"}}}',
                 id="appcred-not-an-object"),
    pytest.param(b'{"auth": {"identity": {"methods": ["password"], "password": {"user": '
                 b'{"name": "demo", "domain": {"id": "default"}, "password": "sandbox-demo-pw"}}}'
                 b', "scope": {"project": "demo"}}}', id="project-not-an-object"),
])
def test_malformed_body_is_400(shared: Sandbox, body: bytes) -> None:
    resp = requests.post(shared.base_url + TOKENS, data=body, timeout=10,
                         headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    error = resp.json()["error"]
    assert error["code"] == 400 and error["title"] == "Bad Request" and error["message"]


# -- application credentials -----------------------------------------------------------------------
APPCRED = {"methods": ["application_credential"],
           "application_credential": {"id": "sandbox-appcred-demo",
                                      "secret": "sandbox-appcred-secret"}}


def test_application_credential(sandbox: Sandbox) -> None:
    token, body = issued(post_auth(sandbox.base_url, APPCRED))
    assert body["methods"] == ["application_credential"]
    assert body["user"]["name"] == "demo" and body["project"]["name"] == "demo"
    assert body["application_credential"]["id"] == "sandbox-appcred-demo"
    assert body["catalog"]
    assert flavors_status(sandbox.base_url, token) == 200
    # by name (Keystone also needs the user then; the sandbox's names are unique)
    by_name = {"methods": ["application_credential"],
               "application_credential": {"name": "fedprobe", "user": {"name": "demo"},
                                          "secret": "sandbox-appcred-secret"}}
    assert issued(post_auth(sandbox.base_url, by_name))[1]["project"]["name"] == "demo"


@pytest.mark.parametrize("cred,scope", [
    pytest.param({"id": "sandbox-appcred-demo", "secret": "wrong"}, None, id="bad-secret"),
    pytest.param({"id": "nope", "secret": "sandbox-appcred-secret"}, None, id="unknown-id"),
    pytest.param({"id": "sandbox-appcred-demo", "secret": "sandbox-appcred-secret"}, DEMO_SCOPE,
                 id="scope-in-request"),
])
def test_application_credential_refused(shared: Sandbox, cred: dict[str, str],
                                        scope: dict[str, Any] | None) -> None:
    resp = post_auth(shared.base_url,
                     {"methods": ["application_credential"], "application_credential": cred},
                     scope)
    assert resp.status_code == 401, resp.text
    assert resp.json()["error"]["code"] == 401


def test_application_credential_token_cannot_be_rescoped(sandbox: Sandbox) -> None:
    token, _ = issued(post_auth(sandbox.base_url, APPCRED))
    resp = post_auth(sandbox.base_url, {"methods": ["token"], "token": {"id": token}}, VO_SCOPE)
    assert resp.status_code == 403 and resp.json()["error"]["code"] == 403


# -- token method ----------------------------------------------------------------------------------
def test_token_rescope_keeps_expiry(sandbox: Sandbox) -> None:
    demo_token, demo = issued(post_auth(sandbox.base_url, password(), DEMO_SCOPE))
    time.sleep(0.01)  # a new token would get a later expires_at
    vo_token, vo = issued(post_auth(sandbox.base_url,
                                    {"methods": ["token"], "token": {"id": demo_token}},
                                    VO_SCOPE))
    assert vo_token != demo_token
    assert vo["project"]["name"] == "vo.example.org"
    assert vo["user"]["id"] == demo["user"]["id"]
    assert vo["expires_at"] == demo["expires_at"]
    assert vo["audit_ids"][0] == demo["audit_ids"][0]
    assert "password" in vo["methods"]
    assert vo["catalog"]
    # both tokens work, each for its own project
    for token, name in ((demo_token, "demo"), (vo_token, "vo.example.org")):
        shown = validate(sandbox.base_url, token, token).json()["token"]
        assert shown["project"]["name"] == name


def test_token_rescope_refusals(sandbox: Sandbox) -> None:
    demo_token, _ = issued(post_auth(sandbox.base_url, password(), DEMO_SCOPE))
    no_role = post_auth(sandbox.base_url, {"methods": ["token"], "token": {"id": demo_token}},
                        {"project": {"name": "ops.example.org", "domain": {"id": "default"}}})
    assert no_role.status_code == 401
    bogus = post_auth(sandbox.base_url, {"methods": ["token"], "token": {"id": "not-a-token"}},
                      VO_SCOPE)
    assert bogus.status_code == 401 and bogus.json() == UNAUTHORIZED


def test_unscoped_then_scoped_with_token_method(sandbox: Sandbox) -> None:
    unscoped, _ = issued(post_auth(sandbox.base_url, password()))
    scoped, body = issued(post_auth(sandbox.base_url,
                                    {"methods": ["token"], "token": {"id": unscoped}},
                                    DEMO_SCOPE))
    assert body["project"]["name"] == "demo" and body["catalog"]
    assert flavors_status(sandbox.base_url, scoped) == 200


# -- validation, revocation, projects and catalog ---------------------------------------------
def test_validate_head_and_unknown_subject(api: Api) -> None:
    base = api.base
    other, body = issued(post_auth(base, password(), VO_SCOPE))
    got = validate(base, api.token, other)
    assert got.status_code == 200
    assert got.headers["X-Subject-Token"] == other
    shown = got.json()["token"]
    assert shown["project"]["name"] == "vo.example.org"
    assert shown["expires_at"] == body["expires_at"] and shown["catalog"]
    head = validate(base, api.token, other, method="HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["X-Subject-Token"] == other
    for subject in ("not-a-token", other[:-2] + "xx"):
        missing = validate(base, api.token, subject)
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == 404
        assert validate(base, api.token, subject, method="HEAD").status_code == 404
    # validation itself needs a valid X-Auth-Token
    refused = validate(base, "not-a-token", other)
    assert refused.status_code == 401 and refused.json() == UNAUTHORIZED
    assert 'Keystone uri="' + api.sb.auth_url + '"' == refused.headers["WWW-Authenticate"]


def test_delete_revokes(api: Api) -> None:
    base = api.base
    victim, _ = issued(post_auth(base, password(), DEMO_SCOPE))
    assert flavors_status(base, victim) == 200
    resp = requests.delete(base + TOKENS, timeout=10,
                           headers={"X-Auth-Token": api.token, "X-Subject-Token": victim})
    assert resp.status_code == 204
    assert validate(base, api.token, victim).status_code == 404
    assert flavors_status(base, victim) == 401
    assert projects_status(base, victim) == 401
    # revoking it again: it is unknown now
    again = requests.delete(base + TOKENS, timeout=10,
                            headers={"X-Auth-Token": api.token, "X-Subject-Token": victim})
    assert again.status_code == 404
    # the revoking token is untouched
    assert flavors_status(base, api.token) == 200


def test_auth_projects_and_catalog(api: Api) -> None:
    resp = api.get("/identity/v3/auth/projects")
    assert resp.status_code == 200
    projects = resp.json()["projects"]
    assert sorted(p["name"] for p in projects) == ["demo", "vo.example.org"]
    for p in projects:
        assert p["enabled"] is True and p["domain_id"] == "default" and len(p["id"]) == 32
    assert resp.json()["links"]["self"] == api.sb.auth_url + "/auth/projects"
    catalog = api.get("/identity/v3/auth/catalog")
    assert catalog.status_code == 200
    types = {s["type"]: s for s in catalog.json()["catalog"]}
    assert set(types) == {"compute", "image", "network", "identity"}
    assert endpoint({"catalog": catalog.json()["catalog"]}, "compute") == \
        api.base + "/compute/v2.1"
    # no token: Keystone's 401
    bare = requests.get(api.base + "/identity/v3/auth/projects", timeout=10)
    assert bare.status_code == 401 and bare.json() == UNAUTHORIZED


# -- federation ------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_federation_oidc_bearer(sandbox: Sandbox, method: str) -> None:
    base = sandbox.base_url
    unscoped, body = issued(fed(base, method=method))
    assert body["methods"] == ["openid"]
    assert "project" not in body and "catalog" not in body
    user = body["user"]
    assert user["name"] == "egi-user@egi.eu"
    assert user["OS-FEDERATION"]["identity_provider"]["id"] == "egi.eu"
    assert user["OS-FEDERATION"]["protocol"]["id"] == "openid"
    assert parse_time(body["expires_at"]) > datetime.now(UTC)
    # the projects the federated user may scope to
    projects = requests.get(base + "/identity/v3/auth/projects", timeout=10,
                            headers={"X-Auth-Token": unscoped}).json()["projects"]
    assert [p["name"] for p in projects] == ["vo.example.org"]
    # rescope to it with the token method; the catalog it gives is usable for Nova
    scoped, scoped_body = issued(post_auth(base, {"methods": ["token"],
                                                  "token": {"id": unscoped}},
                                           {"project": {"id": projects[0]["id"]}}))
    assert scoped_body["project"]["name"] == "vo.example.org"
    assert scoped_body["user"]["id"] == user["id"]
    assert scoped_body["expires_at"] == body["expires_at"]
    compute = endpoint(scoped_body, "compute")
    flavors = requests.get(compute + "/flavors", headers={"X-Auth-Token": scoped}, timeout=10)
    assert flavors.status_code == 200 and flavors.json()["flavors"]
    # ...and not to a project the mapping does not give
    refused = post_auth(base, {"methods": ["token"], "token": {"id": unscoped}}, DEMO_SCOPE)
    assert refused.status_code == 401


def test_federation_refusals(sandbox: Sandbox) -> None:
    base = sandbox.base_url
    wrong = fed(base, bearer="not-the-token")
    assert wrong.status_code == 401 and wrong.json() == UNAUTHORIZED
    missing = fed(base, bearer=None)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == 401
    unknown_idp = fed(base, idp="unknown.example.org")
    assert unknown_idp.status_code == 404
    assert "unknown.example.org" in unknown_idp.json()["error"]["message"]
    # the protocol the IdP is not configured with
    oidc = fed(base, proto="oidc")
    assert oidc.status_code == 404
    assert oidc.json()["error"]["code"] == 404 and "oidc" in oidc.json()["error"]["message"]


def test_federation_second_protocol_when_configured(
        sandbox_factory: Callable[..., Sandbox]) -> None:
    identity = Identity().model_dump()
    egi = next(i for i in identity["identity_providers"] if i["id"] == "egi.eu")
    egi["protocols"] = ["openid", "oidc"]
    sb = sandbox_factory(make_config(identity=identity))
    for proto in ("openid", "oidc"):
        token, body = issued(fed(sb.base_url, proto=proto))
        assert body["methods"] == [proto]
        assert body["user"]["OS-FEDERATION"]["protocol"]["id"] == proto
        assert projects_status(sb.base_url, token) == 200
    assert fed(sb.base_url, proto="saml2").status_code == 404


# -- expiry ----------------------------------------------------------------------------------------
def test_token_lifetime(sandbox_factory: Callable[..., Sandbox]) -> None:
    sb = sandbox_factory(make_config(identity={"token_lifetime": 1}))
    start = datetime.now(UTC)
    token, body = issued(post_auth(sb.base_url, password(), DEMO_SCOPE))
    issued_mono = time.monotonic()
    lifetime = (parse_time(body["expires_at"]) - start).total_seconds()
    assert 0.5 < lifetime <= 1.5
    assert flavors_status(sb.base_url, token) == 200
    assert projects_status(sb.base_url, token) == 200
    time.sleep(max(0.0, 1.2 - (time.monotonic() - issued_mono)))
    assert flavors_status(sb.base_url, token) == 401
    assert projects_status(sb.base_url, token) == 401
    # an expired token cannot be rescoped either, nor is it found on validation
    resp = post_auth(sb.base_url, {"methods": ["token"], "token": {"id": token}}, VO_SCOPE)
    assert resp.status_code == 401
    fresh, _ = issued(post_auth(sb.base_url, password(), DEMO_SCOPE))
    assert validate(sb.base_url, fresh, token).status_code == 404


def test_token_valid_for_fault(api: Api) -> None:
    sb = api.sb
    sb.set_faults(token_valid_for=0.5)
    start = datetime.now(UTC)
    token, body = issued(post_auth(api.base, password(), DEMO_SCOPE))
    # expires_at still announces the configured lifetime (an hour)
    assert (parse_time(body["expires_at"]) - start).total_seconds() > 3000
    assert flavors_status(api.base, token) == 200
    waited = wait_refused(api.base, token)
    assert waited < 2.0
    assert projects_status(api.base, token) == 401
    # the token issued before the fault was put in force is not cut short
    assert flavors_status(api.base, api.token) == 200
    assert validate(api.base, api.token, token).status_code == 404
    # with the fault removed, new tokens last again
    sb.set_faults()
    lasting, _ = issued(post_auth(api.base, password(), DEMO_SCOPE))
    time.sleep(0.6)
    assert flavors_status(api.base, lasting) == 200


def test_token_valid_for_fault_takes_at_least_its_time(api: Api) -> None:
    api.sb.set_faults(token_valid_for=0.5)
    start = time.monotonic()
    token, _ = issued(post_auth(api.base, password(), DEMO_SCOPE))
    wait_refused(api.base, token)
    assert time.monotonic() - start >= 0.5


# -- IPv6 ------------------------------------------------------------------------------------------
def test_keystone_over_ipv6(sandbox: Sandbox) -> None:
    if sandbox.base_url_v6 is None:
        pytest.skip("no IPv6 loopback here")
    v6 = Api(sandbox, base=sandbox.base_url_v6)  # the password method, over [::1]
    base = sandbox.base_url_v6
    assert base.startswith("http://[::1]:")
    root = requests.get(base + "/identity", timeout=10)
    assert root.status_code == 300
    assert root.json()["versions"]["values"][0]["links"][0]["href"] == \
        base + "/identity/v3/"
    version = requests.get(base + "/identity/v3", timeout=10).json()["version"]
    assert version["links"][0]["href"] == base + "/identity/v3/"
    token, body = issued(post_auth(base, password(), DEMO_SCOPE))
    for service in body["catalog"]:
        for ep in service["endpoints"]:
            assert ep["url"].startswith(base + "/"), ep["url"]
    # validation, projects, catalog, rescoping and revocation over IPv6
    shown = validate(base, v6.token, token)
    assert shown.status_code == 200
    assert endpoint(shown.json()["token"], "compute") == base + "/compute/v2.1"
    assert sorted(p["name"] for p in v6.get("/identity/v3/auth/projects").json()["projects"]) \
        == ["demo", "vo.example.org"]
    catalog = v6.get("/identity/v3/auth/catalog").json()["catalog"]
    assert all(ep["url"].startswith("http://[::1]:") for s in catalog for ep in s["endpoints"])
    _, vo = issued(post_auth(base, {"methods": ["token"], "token": {"id": token}}, VO_SCOPE))
    assert vo["project"]["name"] == "vo.example.org"
    assert endpoint(vo, "network") == base + "/networking"
    _, appcred = issued(post_auth(base, APPCRED))
    assert endpoint(appcred, "image") == base + "/image"
    fed_token, _ = issued(fed(base))
    assert projects_status(base, fed_token) == 200
    # the catalog's compute URL works over IPv6
    resp = requests.get(endpoint(body, "compute") + "/flavors", timeout=10,
                        headers={"X-Auth-Token": token})
    assert resp.status_code == 200
    assert requests.delete(base + TOKENS, timeout=10, headers={
        "X-Auth-Token": v6.token, "X-Subject-Token": token}).status_code == 204
    assert flavors_status(base, token) == 401
    # a token issued over IPv6 works over IPv4 too (one cloud)
    assert flavors_status(sandbox.base_url, v6.token) == 200


def test_user_projects_call(api: Api) -> None:
    projects = api.get("/identity/v3/auth/projects").json()["projects"]
    assert sorted(p["name"] for p in projects) == ["demo", "vo.example.org"]
    catalog = api.get("/identity/v3/auth/catalog").json()["catalog"]
    assert {s["type"] for s in catalog} == {"identity", "compute", "image", "network"}
    user_id = requests.get(api.sb.auth_url + "/auth/tokens", timeout=10, headers={
        "X-Auth-Token": api.token, "X-Subject-Token": api.token}).json()["token"]["user"]["id"]
    mine = api.get(f"/identity/v3/users/{user_id}/projects").json()["projects"]
    assert len(mine) == 2
    assert api.get("/identity/v3/users/someone-else/projects").status_code == 403

