"""The OIDC piece keystoneauth1 does not have: exchanging a refresh token at the provider's
token endpoint (RFC 6749 section 6, one POST). Reading a token file is probes.credentials.token."""

from __future__ import annotations

import requests


class OidcError(Exception):
    """The token endpoint refused or answered nonsense; one line, no token in it."""


def exchange_refresh_token(endpoint: str, refresh_token: str, client_id: str,
                           client_secret: str | None, verify: bool | str,
                           timeout: float) -> str:
    """A fresh access token for the refresh token."""
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token,
            "client_id": client_id, "scope": "openid"}
    if client_secret:
        data["client_secret"] = client_secret
    try:
        resp = requests.post(endpoint, data=data, verify=verify, timeout=timeout)
    except requests.RequestException as exc:
        raise OidcError(f"OIDC token endpoint {endpoint}: {type(exc).__name__}") from None
    if resp.status_code != 200:
        raise OidcError(f"OIDC token endpoint {endpoint} refused the refresh token "
                        f"(HTTP {resp.status_code})")
    try:
        token = resp.json().get("access_token")
    except ValueError:
        token = None
    if not isinstance(token, str) or not token:
        raise OidcError(f"OIDC token endpoint {endpoint}: no access_token in its answer")
    return token
