"""Why a login was refused, in one line an operator can act on, from what the answer shows.

A 401 at a federated site comes from one of two places:
- The layer in front of Keystone (mod_auth_openidc): its RFC 6750 challenge `Bearer ...
  error_description="..."` says what is wrong with the token. That description is meant for
  the client, so it is quoted.
- Keystone itself: it hides why (a mapping that matched nothing looks like any other refusal),
  so for a federated login the line says what that can mean. For an access token, it also says
  which VOs the token's eduperson_entitlement values name. Those are read unverified, like the
  expiry, and they are group names, not secrets.
"""

from __future__ import annotations

import re
from typing import Any

from probes.config.site import Auth

_DESCRIPTION = re.compile(r'error_description="([^"]{0,200})"')
# urn:mace:egi.eu:group:<vo>[:<subgroup>...][:role=<role>]#<authority>
_ENTITLEMENT_VO = re.compile(r"^urn:mace:[^:]+:group:([^:#]+)")
_UNSUPPORTED = "Attempted to authenticate with an unsupported method."


def _keystone_message(resp: Any) -> str:
    try:
        message = resp.json()["error"]["message"]
    except (ValueError, KeyError, TypeError, AttributeError):
        return ""
    return message if isinstance(message, str) else ""


def _entitled_vos(a: Auth) -> list[str] | None:
    """The VOs the access token's entitlements name (None when the token is not a JWT)."""
    from probes.credentials.token import TokenError, jwt_claims

    if not a.access_token:
        return None
    try:
        values = jwt_claims(a.access_token).get("eduperson_entitlement", [])
    except TokenError:
        return None
    if isinstance(values, str):
        values = [values]
    vos = [m[1] for v in values if isinstance(v, str) and (m := _ENTITLEMENT_VO.match(v))]
    return list(dict.fromkeys(vos))


def unauthorized(resp: Any, a: Auth | None) -> str:
    """The line for an HTTP 401 answer (resp may be None when keystoneauth kept none)."""
    headers = getattr(resp, "headers", None) or {}
    challenge = str(headers.get("WWW-Authenticate", ""))
    if challenge.lower().startswith("bearer"):
        found = _DESCRIPTION.search(challenge)
        reason = found[1] if found else "no reason given"
        return f"the site refused the access token (HTTP 401: {reason})"
    if _keystone_message(resp) == _UNSUPPORTED:
        return "this protocol is not enabled at this Keystone (HTTP 401: unsupported method)"
    line = "credentials refused (HTTP 401)"
    if a is None or not (a.type.startswith("oidc") or a.type == "x509_mapped"):
        return line
    what = "certificate" if a.type == "x509_mapped" else "token"
    line += (f": the {what} is not valid at this site, or the identity it carries matches no "
             f"rule of Keystone's mapping for {a.identity_provider}")
    if what == "token":
        vos = _entitled_vos(a)
        if vos:
            more = f" and {len(vos) - 5} more" if len(vos) > 5 else ""
            line += f" (the token's entitlements are for: {', '.join(vos[:5])}{more})"
        elif vos is not None:
            line += " (the token carries no eduperson_entitlement)"
    return line
