"""A fedprobe sites file for the sandbox (``<state-dir>/sites.yaml``), so the probe points at
it in one step: ``fedprobe vm --sites <state-dir>/sites.yaml --site sandbox``.

Written as YAML in the documented sites-file format; the sandbox does not import the probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from probes.sandbox.config import SandboxConfig
from probes.sandbox.guests.process import REACH_PORT_KEY


def sites(config: SandboxConfig, auth_url: str, base_url: str, ca_file: Path | None,
          guest_kind: str) -> dict[str, Any]:
    """One site per way into the sandbox, sharing defaults that match what it offers."""
    image = next((i.name for i in config.images if i.visibility == "public"), "")
    defaults: dict[str, Any] = {
        "image": {"name": image},
        "policy": {"ipv4": "required", "ipv6": "required", "context": "required",
                   "mjf": "required"},
    }
    if ca_file is not None:
        defaults["cacert"] = str(ca_file)
    if guest_kind == "process":  # all process guests share ::1, each on its own port
        defaults["port_metadata_key"] = REACH_PORT_KEY
    ident = config.identity
    result: dict[str, Any] = {}
    user = next((u for u in ident.users if u.projects), None)
    if user is not None:
        result["sandbox"] = {"auth": {"type": "password", "auth_url": auth_url,
                                      "username": user.name, "password": user.password,
                                      "user_domain_id": user.domain,
                                      "project_name": user.projects[0]}}
    for cred in ident.application_credentials[:1]:
        result["sandbox-appcred"] = {"auth": {
            "type": "application_credential", "auth_url": auth_url,
            "application_credential_id": cred.id,
            "application_credential_secret": cred.secret}}
    for idp in ident.identity_providers[:1]:
        if not idp.tokens:
            continue
        tok = idp.tokens[0]
        oidc = {"auth_url": auth_url, "identity_provider": idp.id,
                "protocol": idp.protocols[0], "project_name": tok.projects[0]}
        result["sandbox-oidc"] = {"auth": {"type": "oidc_access_token",
                                           "access_token": tok.token, **oidc}}
        if tok.refresh_token:
            result["sandbox-oidc-refresh"] = {"auth": {
                "type": "oidc_refresh_token", "refresh_token": tok.refresh_token,
                "token_endpoint": f"{base_url}/oidc/token", "client_id": ident.oidc_client_id,
                **oidc}}
    return {"defaults": defaults, "sites": result}
