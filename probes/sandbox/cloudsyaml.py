"""A clouds.yaml describing every way into the sandbox, so any OpenStack client points at it in
one step (``OS_CLIENT_CONFIG_FILE=<file> openstack --os-cloud sandbox ...``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from probes.sandbox.config import SandboxConfig


def clouds(config: SandboxConfig, auth_url: str, ca_file: Path | None) -> dict[str, Any]:
    """The clouds mapping: one password cloud per user, one per app credential and OIDC IdP."""
    common: dict[str, Any] = {"region_name": config.region, "interface": "public",
                              "identity_api_version": 3}
    if ca_file is not None:
        common["cacert"] = str(ca_file)
    result: dict[str, Any] = {}
    ident = config.identity
    for i, user in enumerate(ident.users):
        if not user.projects:
            continue
        name = "sandbox" if i == 0 else f"sandbox-{user.name}"
        result[name] = {**common, "auth_type": "password", "auth": {
            "auth_url": auth_url, "username": user.name, "password": user.password,
            "project_name": user.projects[0], "user_domain_id": user.domain,
            "project_domain_id": "default"}}
    for cred in ident.application_credentials:
        result[f"sandbox-appcred-{cred.user}"] = {**common, "auth_type": "v3applicationcredential",
                                                  "auth": {"auth_url": auth_url,
                                                           "application_credential_id": cred.id,
                                                           "application_credential_secret":
                                                               cred.secret}}
    for idp in ident.identity_providers:
        if not idp.tokens:
            continue
        token = idp.tokens[0]
        result[f"sandbox-oidc-{idp.id}"] = {**common, "auth_type": "v3oidcaccesstoken", "auth": {
            "auth_url": auth_url, "identity_provider": idp.id, "protocol": idp.protocols[0],
            "access_token": token.token, "project_name": token.projects[0],
            "project_domain_id": "default"}}
    return {"clouds": result}


def write(path: Path, data: dict[str, Any]) -> Path:
    """Write the file readable by its owner only (it holds the sandbox's credentials)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        yaml.safe_dump(data, fh, sort_keys=False)
    return path
