"""A keystoneauth1 session for a site: keystoneauth1's v3 identity plugins for each auth type,
TLS verification on by default, and the OIDC protocol fallback (openid <-> oidc).

What keystoneauth1 lacks is added small: the refresh-token exchange (probes.auth.oidc) and trying
the other federation protocol name.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session
from keystoneauth1.identity import v3

from probes.auth import refusal
from probes.auth.oidc import OidcError, exchange_refresh_token
from probes.auth.x509 import VomsV2Auth, X509MappedAuth
from probes.config.site import Auth, OpenStackSite
from probes.drivers.answer import MALFORMED

log = logging.getLogger(__name__)

_OTHER_PROTOCOL = {"openid": "oidc", "oidc": "openid"}


class AuthError(Exception):
    """Authentication failed or is misconfigured; the message is one line, no secret in it."""


@dataclass(frozen=True)
class Login:
    session: session.Session
    method: str          # what worked, e.g. "password" or "oidc_access_token via oidc"
    project_id: str
    user_id: str
    expires_at: str


def verify_option(site: OpenStackSite) -> bool | str:
    """requests' verify: the CA bundle file or hashed directory, True, or False (loudly)."""
    if site.insecure:
        log.warning("TLS verification is OFF for %s (--insecure)", site.name)
        return False
    if site.cacert:
        if not os.path.exists(site.cacert):
            raise AuthError(f"--cacert {site.cacert}: no such file or directory")
        return site.cacert
    return True


def check_scheme(url: str, allow_http: bool) -> None:
    """Plain http only to loopback, unless explicitly allowed (tokens would cross the wire)."""
    parts = urlsplit(url)
    if parts.scheme == "https":
        return
    if parts.scheme != "http":
        raise AuthError(f"auth_url {url!r}: not an http(s) URL")
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not (loopback or allow_http):
        raise AuthError(f"auth_url {url}: plain http to a non-loopback host; use https "
                        "(or --allow-http if you really must)")


def _scope(a: Auth) -> dict[str, Any]:
    scope = {"project_id": a.project_id, "project_name": a.project_name,
             "project_domain_name": a.project_domain_name,
             "project_domain_id": a.project_domain_id}
    if a.project_name and not (a.project_domain_name or a.project_domain_id):
        scope["project_domain_id"] = "default"
    return {k: v for k, v in scope.items() if v}


def _refresh(a: Auth, verify: bool | str, timeout: float) -> str:
    """Exchange the site's refresh token for an access token."""
    assert a.token_endpoint and a.refresh_token and a.client_id
    try:
        return exchange_refresh_token(a.token_endpoint, a.refresh_token, a.client_id,
                                      a.client_secret, verify, timeout)
    except OidcError as exc:
        raise AuthError(str(exc)) from None


def _plugin(a: Auth, protocol: str, access_token: str | None) -> Any:
    if a.type == "x509_mapped":
        assert a.identity_provider is not None
        return X509MappedAuth(a.auth_url, a.identity_provider, protocol, **_scope(a))
    if a.type == "x509_voms_v2":
        return VomsV2Auth(a.auth_url, tenant_id=a.project_id, tenant_name=a.project_name)
    common = {"auth_url": a.auth_url}
    if a.type == "password":
        user = {"username": a.username, "user_id": a.user_id, "password": a.password,
                "user_domain_name": a.user_domain_name, "user_domain_id": a.user_domain_id}
        if a.username and not (a.user_domain_name or a.user_domain_id):
            user["user_domain_id"] = "default"
        opts = {**common, **user, **_scope(a)}
        plugin: type = v3.Password
    elif a.type == "application_credential":
        opts = {**common, "application_credential_id": a.application_credential_id,
                "application_credential_name": a.application_credential_name,
                "application_credential_secret": a.application_credential_secret,
                "username": a.username, "user_id": a.user_id,
                "user_domain_name": a.user_domain_name, "user_domain_id": a.user_domain_id}
        plugin = v3.ApplicationCredential
    elif a.type == "token":
        opts = {**common, "token": a.token, **_scope(a)}
        plugin = v3.Token
    else:
        opts = {**common, "identity_provider": a.identity_provider, "protocol": protocol,
                "access_token": access_token, **_scope(a)}
        plugin = v3.OidcAccessToken
    opts = {k: v for k, v in opts.items() if v not in (None, "")}
    # The classes themselves, not loading.get_plugin_loader(): that scans every installed
    # package's entry points (stevedore), a third of a plugin run's login time.
    return plugin(**opts)


def _describe(exc: Exception, client_cert: bool = False, a: Auth | None = None) -> str:
    if isinstance(exc, ks_exc.Unauthorized):
        return refusal.unauthorized(getattr(exc, "response", None), a)
    if isinstance(exc, ks_exc.NotFound):
        return "not found (HTTP 404)"
    if isinstance(exc, ks_exc.SSLError):
        text = str(exc).lower()
        if "certificate verify failed" in text:  # we do not trust the server
            return "TLS verification failed (is --cacert right?)"
        # TLS 1.3: the server rejects our certificate after the client's side of the handshake;
        # that shows as an alert, or as the connection closed (EOF, reset) under us.
        if client_cert or "alert" in text:
            return "the server refused the client certificate in the TLS handshake"
        return "TLS handshake failed"
    if isinstance(exc, ks_exc.ConnectFailure):
        return "cannot connect"
    if isinstance(exc, ks_exc.ConnectTimeout | requests.Timeout):
        return "timed out"
    if isinstance(exc, ks_exc.HttpError):
        return f"HTTP {exc.http_status}"
    return type(exc).__name__


def _proxy(a: Auth) -> str:
    """The proxy file, checked first so that an expired or broken one is named as such (the TLS
    layer would only say the handshake failed)."""
    from probes.credentials.proxy import ProxyError, read_proxy

    assert a.x509_proxy is not None
    try:
        info = read_proxy(a.x509_proxy)
    except ProxyError as exc:
        raise AuthError(str(exc)) from None
    if info.time_left() <= 0:
        raise AuthError(f"proxy {a.x509_proxy} expired at {info.not_after:%Y-%m-%d %H:%M} UTC")
    return a.x509_proxy


def login(site: OpenStackSite, timeout: float) -> Login:
    """Authenticate and scope; raise AuthError with a one-line reason."""
    a = site.auth
    check_scheme(a.auth_url, site.allow_http)
    verify = verify_option(site)
    access = a.access_token
    if a.type == "oidc_refresh_token":
        access = _refresh(a, verify, timeout)
    cert = _proxy(a) if a.type.startswith("x509") else None
    # X509 federation uses the "mapped" protocol unless the site names another
    explicit = "protocol" in a.model_fields_set
    protocols = [a.protocol if explicit or a.type != "x509_mapped" else "mapped"]
    if a.type.startswith("oidc"):
        protocols.append(_OTHER_PROTOCOL.get(a.protocol, "openid"))
    failures = []
    for protocol in protocols:
        sess = session.Session(auth=_plugin(a, protocol, access), verify=verify, cert=cert,
                               timeout=timeout, user_agent="fedprobe")
        try:
            ref = sess.auth.get_access(sess)  # type: ignore[union-attr]
        except MALFORMED as exc:  # keystoneauth read a token answer of the wrong shape
            raise AuthError(f"{a.type} login at {a.auth_url}: Keystone's token answer is "
                            f"malformed ({type(exc).__name__})") from None
        except (ks_exc.ClientException, requests.RequestException) as exc:
            failures.append(f"{protocol}: {_describe(exc, cert is not None, a)}")
            if not a.type.startswith("oidc") or not isinstance(
                    exc, ks_exc.NotFound | ks_exc.Unauthorized):
                break
            continue
        method = a.type + (f" via protocol {protocol}" if a.type.startswith("oidc") else "")
        try:  # AccessInfo reads the token document lazily: its shape shows only now
            project, user, expires = ref.project_id, ref.user_id, ref.expires
            if not project:
                raise AuthError(f"{method}: the token is not scoped to a project")
            return Login(sess, method, str(project), str(user), expires.isoformat())
        except MALFORMED as exc:
            raise AuthError(f"{method} at {a.auth_url}: Keystone's token answer is malformed "
                            f"({type(exc).__name__}: {str(exc)[:80]})") from None
    raise AuthError(f"{a.type} login at {a.auth_url} failed: " +
                    ("; ".join(failures) if a.type.startswith("oidc") else
                     failures[0].split(": ", 1)[1]))
