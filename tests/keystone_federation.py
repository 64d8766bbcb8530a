"""Federation set up in the tests' real Keystone through its admin API, as a site admin does it
(`openstack identity provider create`, `mapping create`, `federation protocol create`): a VO's
project, a group holding the member role on it, and for each identity provider a mapping that
puts the users it vouches for into that group.

- X509: identity provider `x509`, remote id the CA's DN (SSL_CLIENT_I_DN), protocol `mapped`;
  a verified certificate's subject DN is the user name.
- OIDC: identity provider `egi.eu`, remote id the issuer (HTTP_OIDC_ISS), protocol `openid`;
  the subject is the user name, and only an EGI-style entitlement for the VO admits
  (`urn:mace:egi.eu:group:<vo>:role=member#aai.egi.eu`, as EGI's site configuration maps it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from tests.keystone_server import Keystone


def entitlement(vo: str, role: str = "member") -> str:
    """The eduperson_entitlement EGI Check-in gives a VO member."""
    return f"urn:mace:egi.eu:group:{vo}:role={role}#aai.egi.eu"


@dataclass(frozen=True)
class Federation:
    project: str
    project_id: str
    group_id: str


class _Admin:
    def __init__(self, ks: Keystone) -> None:
        self.ks = ks
        body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": ks.admin_password}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}}
        resp = requests.post(ks.url + "/auth/tokens", json=body, timeout=30, verify=ks.verify)
        assert resp.status_code == 201, resp.text
        self.token = resp.headers["X-Subject-Token"]

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        resp = requests.request(method, self.ks.url + path, json=body, timeout=30,
                                verify=self.ks.verify, headers={"X-Auth-Token": self.token})
        assert resp.status_code < 300, f"{method} {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None


def federate(ks: Keystone, vo: str, *, x509_ca_dn: str | None = None,
             oidc_issuer: str | None = None) -> Federation:
    """The VO's project and group, and the identity providers asked for."""
    admin = _Admin(ks)
    project = admin.call("POST", "/projects", {"project": {"name": vo, "domain_id": "default"}})
    project_id = project["project"]["id"]
    group = admin.call("POST", "/groups", {"group": {"name": f"{vo}-members",
                                                     "domain_id": "default"}})
    group_id = group["group"]["id"]
    role_id = admin.call("GET", "/roles?name=member")["roles"][0]["id"]
    admin.call("PUT", f"/projects/{project_id}/groups/{group_id}/roles/{role_id}")
    if x509_ca_dn:
        _provider(admin, "x509", [x509_ca_dn], "mapped", "SSL_CLIENT_I_DN", [
            {"type": "SSL_CLIENT_S_DN"},
            {"type": "SSL_CLIENT_VERIFY", "any_one_of": ["SUCCESS"]}], group_id)
    if oidc_issuer:
        _provider(admin, "egi.eu", [oidc_issuer], "openid", "HTTP_OIDC_ISS", [
            {"type": "HTTP_OIDC_SUB"},
            {"type": "HTTP_OIDC_ISS", "any_one_of": [oidc_issuer]},
            {"type": "OIDC-eduperson_entitlement", "regex": True,
             "any_one_of": [f"^{entitlement(vo).replace('.', '[.]')}$"]}], group_id)
    return Federation(vo, project_id, group_id)


def _provider(admin: _Admin, idp: str, remote_ids: list[str], protocol: str,
              remote_id_attribute: str, remote: list[dict[str, Any]], group_id: str) -> None:
    admin.call("PUT", f"/OS-FEDERATION/identity_providers/{idp}",
               {"identity_provider": {"enabled": True, "remote_ids": remote_ids}})
    mapping = f"{idp}-{protocol}"
    admin.call("PUT", f"/OS-FEDERATION/mappings/{mapping}", {"mapping": {"rules": [{
        "local": [{"user": {"name": "{0}"}}, {"group": {"id": group_id}}],
        "remote": remote}]}})
    admin.call("PUT", f"/OS-FEDERATION/identity_providers/{idp}/protocols/{protocol}",
               {"protocol": {"mapping_id": mapping,
                             "remote_id_attribute": remote_id_attribute}})
