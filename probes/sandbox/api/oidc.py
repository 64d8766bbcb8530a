"""A stand-in for the OIDC provider's token endpoint (EGI Check-in's role): exchanges a
configured refresh token for its access token (RFC 6749 section 6), so refresh-token logins
can be tested end to end."""

from __future__ import annotations

import hmac

from probes.sandbox.api.errors import ApiError
from probes.sandbox.api.routes import Ctx, Reply, collect, route


def _oauth_error(status: int, error: str, description: str) -> ApiError:
    return ApiError(status, {"error": error, "error_description": description})


@route("/oidc/token", "POST", "oidc", "oidc", auth=False)
def token(ctx: Ctx) -> Reply:
    """POST /oidc/token, form-encoded grant_type=refresh_token."""
    form = ctx.request.form
    if form.get("grant_type") != "refresh_token":
        raise _oauth_error(400, "unsupported_grant_type", "only refresh_token is offered")
    ident = ctx.cloud.config.identity
    if form.get("client_id") != ident.oidc_client_id:
        raise _oauth_error(401, "invalid_client", "unknown client_id")
    given = (form.get("refresh_token") or "").encode()
    for idp in ident.identity_providers:
        for entry in idp.tokens:
            if entry.refresh_token and hmac.compare_digest(entry.refresh_token.encode(), given):
                return Reply(200, {"access_token": entry.token, "token_type": "Bearer",
                                   "expires_in": int(ident.token_lifetime), "scope": "openid"})
    raise _oauth_error(400, "invalid_grant", "refresh token unknown or expired")


ROUTES = collect(globals())
