"""What Apache does in front of Keystone at a federated site, as a WSGI layer around the tests'
real Keystone (loaded by gunicorn in .venv-keystone: stdlib and cryptography only).

- mod_ssl: on HTTPS, SSL_CLIENT_VERIFY (SUCCESS or NONE: gunicorn verifies a presented
  certificate in the handshake, so a bad one never gets here), SSL_CLIENT_S_DN and
  SSL_CLIENT_I_DN in RFC 2253 form, SSL_CLIENT_M_SERIAL, SSL_CLIENT_V_END and SSL_CLIENT_CERT.
  For an RFC 3820 proxy, the variables describe the end-entity certificate the proxy derives
  from. mod_ssl alone would name the proxy, whose DN changes with every proxy and whose issuer
  is the user, not the CA; sites that accept proxies resolve it to the user's certificate, so
  Keystone's remote id (SSL_CLIENT_I_DN) is the CA.
- mod_auth_openidc as an OAuth 2.0 resource server (OIDCOAuthVerifyCertFiles, OIDCClaimPrefix
  "OIDC-", OIDCClaimDelimiter ";", claims passed as environment and as headers): on the
  configured identity provider's protocol URL, the bearer token must be an RS256 JWT signed by
  the issuer's key, from that issuer, not expired; otherwise 401 with RFC 6750's
  WWW-Authenticate error. The claims become OIDC-<claim> and HTTP_OIDC_<CLAIM>.
- Both scrub what a client could send to impersonate them (OIDC-* headers), as
  OIDCScrubRequestHeaders does.

Configured by environment: FRONT_OIDC_IDP, FRONT_OIDC_PROTOCOL, FRONT_OIDC_ISSUER,
FRONT_OIDC_KEY (a PEM public key file).
"""

from __future__ import annotations

import _ssl
import base64
import binascii
import json
import os
import re
import ssl
import time
from collections.abc import Callable, Iterable
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

_FEDERATION = re.compile(r"^/v3/OS-FEDERATION/identity_providers/([^/]+)/protocols/([^/]+)/auth$")
_PROXY_CERT_INFO = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.14")
_SCRUB = ("HTTP_OIDC", "OIDC", "SSL_CLIENT", "REMOTE_USER")

App = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class BearerRefused(Exception):
    """The bearer token is missing or invalid; the message is RFC 6750's error_description."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def validate(token: str, key: rsa.RSAPublicKey, issuer: str, now: float) -> dict[str, Any]:
    """The claims of a valid token (BearerRefused says what is wrong with an invalid one)."""
    try:
        header_b64, body_b64, sig_b64 = token.split(".")
        header, claims = json.loads(_b64(header_b64)), json.loads(_b64(body_b64))
        signature = _b64(sig_b64)
    except (ValueError, binascii.Error):
        raise BearerRefused("invalid_token", "not a JWS compact token") from None
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        raise BearerRefused("invalid_token", "only RS256 tokens are accepted")
    try:
        key.verify(signature, f"{header_b64}.{body_b64}".encode(), padding.PKCS1v15(),
                   hashes.SHA256())
    except InvalidSignature:
        raise BearerRefused("invalid_token", "the token's signature does not verify with the "
                            "issuer's key") from None
    if not isinstance(claims, dict) or claims.get("iss") != issuer:
        raise BearerRefused("invalid_token", "the token is not from the trusted issuer")
    exp = claims.get("exp")
    if not isinstance(exp, int | float) or exp <= now:
        raise BearerRefused("invalid_token", "the token has expired")
    if not isinstance(claims.get("sub"), str):
        raise BearerRefused("invalid_token", "the token has no subject")
    return claims


def claim_variables(claims: dict[str, Any]) -> dict[str, str]:
    """mod_auth_openidc's variables for these claims: OIDC-<claim> and HTTP_OIDC_<CLAIM>."""
    out = {}
    for name, value in claims.items():
        if isinstance(value, list):
            text = ";".join(str(v) for v in value)
        elif isinstance(value, dict):
            text = json.dumps(value)
        else:
            text = str(value)
        out[f"OIDC-{name}"] = text
        out["HTTP_OIDC_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()] = text
    return out


def _end_entity(chain: list[x509.Certificate]) -> x509.Certificate:
    for cert in chain:
        try:
            cert.extensions.get_extension_for_oid(_PROXY_CERT_INFO)
        except x509.ExtensionNotFound:
            return cert
    return chain[-1]


def tls_variables(sock: Any) -> dict[str, str]:
    """mod_ssl's client-certificate variables for this (verified) TLS connection."""
    if not isinstance(sock, ssl.SSLSocket):
        return {}
    # Python 3.11 keeps the verified chain private; 3.13 makes it public
    get_chain = getattr(sock, "get_verified_chain", None) or sock._sslobj.get_verified_chain  # type: ignore[union-attr]
    raw = get_chain() if sock.getpeercert(binary_form=True) else []
    if not raw:
        return {"SSL_CLIENT_VERIFY": "NONE"}
    chain = [x509.load_der_x509_certificate(c.public_bytes(_ssl.ENCODING_DER))
             for c in raw]
    cert = _end_entity(chain)
    return {"SSL_CLIENT_VERIFY": "SUCCESS",
            "SSL_CLIENT_S_DN": cert.subject.rfc4514_string(),
            "SSL_CLIENT_I_DN": cert.issuer.rfc4514_string(),
            "SSL_CLIENT_M_SERIAL": format(cert.serial_number, "X"),
            "SSL_CLIENT_V_END": cert.not_valid_after_utc.strftime("%b %d %H:%M:%S %Y GMT"),
            "SSL_CLIENT_CERT": cert.public_bytes(serialization.Encoding.PEM).decode()}


class Front:
    """The layer around Keystone's WSGI application."""

    def __init__(self, app: App, oidc_idp: str | None = None, oidc_protocol: str = "openid",
                 issuer: str | None = None, key_file: str | None = None) -> None:
        self.app, self.oidc_path = app, (oidc_idp, oidc_protocol)
        self.issuer = issuer
        self.key: rsa.RSAPublicKey | None = None
        if key_file:
            with open(key_file, "rb") as fh:
                loaded = serialization.load_pem_public_key(fh.read())
            assert isinstance(loaded, rsa.RSAPublicKey), f"{key_file}: not an RSA public key"
            self.key = loaded

    @classmethod
    def from_environment(cls, app: App) -> Front:
        """The layer as FRONT_OIDC_* say (no OIDC when FRONT_OIDC_IDP is unset)."""
        env = os.environ
        return cls(app, env.get("FRONT_OIDC_IDP"), env.get("FRONT_OIDC_PROTOCOL", "openid"),
                   env.get("FRONT_OIDC_ISSUER"), env.get("FRONT_OIDC_KEY"))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        for name in [k for k in environ if k.upper().startswith(_SCRUB)]:
            del environ[name]
        if environ.get("wsgi.url_scheme") == "https":
            environ.update(tls_variables(environ.get("gunicorn.socket")))
        match = _FEDERATION.match(environ.get("PATH_INFO", ""))
        if match and self.oidc_path[0] and match.groups() == self.oidc_path:
            try:
                environ.update(claim_variables(self._bearer(environ)))
            except BearerRefused as exc:
                return self._refuse(exc, start_response)
        return self.app(environ, start_response)

    def _bearer(self, environ: dict[str, Any]) -> dict[str, Any]:
        scheme, _, token = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise BearerRefused("invalid_request", "no bearer token in the request")
        assert self.key is not None and self.issuer, "FRONT_OIDC_KEY/ISSUER are not set"
        return validate(token.strip(), self.key, self.issuer, time.time())

    def _refuse(self, exc: BearerRefused, start_response: Callable[..., Any]) -> list[bytes]:
        challenge = (f'Bearer realm="{self.oidc_path[0]}", error="{exc.error}", '
                     f'error_description="{exc}"')
        body = json.dumps({"error": exc.error, "error_description": str(exc)}).encode()
        start_response("401 Unauthorized", [("WWW-Authenticate", challenge),
                                            ("Content-Type", "application/json"),
                                            ("Content-Length", str(len(body)))])
        return [body]
