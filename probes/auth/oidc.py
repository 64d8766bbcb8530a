"""OIDC pieces keystoneauth1 does not have: exchanging a refresh token at the provider's token
endpoint (RFC 6749 section 6, one POST) and reading a JWT access token's claims without
trusting it (only to know when it expires)."""

from __future__ import annotations

import base64
import binascii
import json
import time
from typing import Any

import requests


class OidcError(Exception):
    """The token endpoint refused, or a token cannot be read; one line, no token in it."""


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


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT, unverified (OidcError if the token is not a JWT)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise OidcError("the access token is not a JWT (cannot tell when it expires)")
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (binascii.Error, ValueError):
        raise OidcError("the access token's JWT payload cannot be decoded") from None
    if not isinstance(claims, dict):
        raise OidcError("the access token's JWT payload is not an object")
    return claims


def seconds_left(token: str, now: float | None = None) -> float:
    """Seconds until the JWT's ``exp`` (negative when expired)."""
    exp = jwt_claims(token).get("exp")
    if not isinstance(exp, int | float):
        raise OidcError("the access token has no numeric exp claim")
    return float(exp) - (now if now is not None else time.time())
