"""keystoneauth1 plugins for X509/VOMS logins, which keystoneauth1 does not ship. Both rely on
the session presenting the proxy as TLS client certificate (Session(cert=<proxy file>)).

- X509MappedAuth: the federation endpoint with an X509 protocol (usually ``mapped``), then the
  usual rescoping to the project (keystoneauth1's FederationBaseAuth does that part).
- VomsV2Auth: the legacy keystone-voms path, ``POST /v2.0/tokens`` with ``{"voms": true}``.
"""

from __future__ import annotations

from typing import Any

from keystoneauth1 import access
from keystoneauth1.identity import v2, v3


class X509MappedAuth(v3.FederationBaseAuth):
    """Unscoped token from the federation endpoint, authenticated by the client certificate."""

    def get_unscoped_auth_ref(self, session: Any, **kwargs: Any) -> Any:
        """POST to the federation URL; the TLS layer carries the credentials."""
        resp = session.post(self.federated_token_url, authenticated=False, log=False)
        return access.create(resp=resp)


class VomsV2Auth(v2.Auth):
    """keystone-voms: the body says "voms", the TLS client certificate says who."""

    def get_auth_data(self, headers: Any = None) -> dict[str, Any]:
        """The v2 auth body's method part."""
        return {"voms": True}
