"""One probe target: how to log in, what to boot, and the site's policy (what is required).

Built by probes.config.sources from command-line flags, clouds.yaml, OS_* variables or a sites file;
validated here with unknown keys refused.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from probes.config import urls

AuthType = Literal["password", "application_credential", "token", "oidc_access_token",
                   "oidc_refresh_token", "x509_mapped", "x509_voms_v2"]
# What missing a thing is worth: CRITICAL, WARNING, OK with the finding shown, not checked.
Need = Literal["required", "warning", "informational", "off"]
# Secret option names: never printed, logged or put anywhere but the request that needs them.
SECRET_OPTIONS = frozenset({"password", "application_credential_secret", "token",
                            "access_token", "refresh_token", "client_secret"})


class _Model(BaseModel):
    # strict: YAML's `port: true` or `insecure: "no"` is a mistake to name, not to convert
    # (command-line flags arrive typed by argparse; OS_* values are strings, as are the keys
    # they set)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Auth(_Model):
    """How to get a project-scoped token."""

    type: AuthType = "password"
    auth_url: str
    username: str | None = None
    user_id: str | None = None
    password: str | None = Field(None, repr=False)
    user_domain_name: str | None = None
    user_domain_id: str | None = None
    project_name: str | None = None
    project_id: str | None = None
    project_domain_name: str | None = None
    project_domain_id: str | None = None
    application_credential_id: str | None = None
    application_credential_name: str | None = None
    application_credential_secret: str | None = Field(None, repr=False)
    token: str | None = Field(None, repr=False)
    identity_provider: str | None = None
    protocol: str = "openid"
    access_token: str | None = Field(None, repr=False)
    refresh_token: str | None = Field(None, repr=False)
    token_endpoint: str | None = None
    client_id: str | None = None
    client_secret: str | None = Field(None, repr=False)
    x509_proxy: str | None = None  # proxy file presented as TLS client certificate

    @field_validator("auth_url", "token_endpoint")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        """A URL that can be asked at all (its scheme, host and port)."""
        wrong = urls.problem(value) if value is not None else None
        if wrong:
            raise ValueError(wrong)
        return value

    @model_validator(mode="after")
    def _complete(self) -> Auth:
        """Each method's mandatory options, named when missing."""
        need: dict[str, tuple[tuple[str, ...], ...]] = {
            "password": (("username", "user_id"), ("password",)),
            "application_credential": (("application_credential_id",
                                        "application_credential_name"),
                                       ("application_credential_secret",)),
            "token": (("token",),),
            "oidc_access_token": (("identity_provider",), ("access_token",)),
            "oidc_refresh_token": (("identity_provider",), ("refresh_token",),
                                   ("token_endpoint",), ("client_id",)),
            "x509_mapped": (("x509_proxy",), ("identity_provider",)),
            "x509_voms_v2": (("x509_proxy",),),
        }
        for options in need[self.type]:
            if all(getattr(self, o) in (None, "") for o in options):
                raise ValueError(f"auth type {self.type} needs {' or '.join(options)}")
        scoped = self.project_id or self.project_name
        if self.type != "application_credential" and not scoped:
            raise ValueError(f"auth type {self.type} needs project_id or project_name")
        return self


class ImageChoice(_Model):
    id: str | None = None
    name: str | None = None
    property: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one(self) -> ImageChoice:
        """Exactly one way to pick the image."""
        if sum(bool(x) for x in (self.id, self.name, self.property)) != 1:
            raise ValueError("image needs exactly one of id, name or property")
        return self


class Policy(_Model):
    """What this site promises, per thing checked: ``required`` (missing it is CRITICAL),
    ``warning`` (WARNING), ``informational`` (OK, the finding in the text and the metrics) or
    ``off`` (not checked)."""

    ipv4: Need = "required"
    ipv6: Need = "informational"
    context: Need = "required"
    mjf: Need = "warning"
    mjf_keys: tuple[str, ...] = Field(("total_cpu", "allocated_cpu", "jobstart_secs",
                                       "wall_limit_secs"), strict=False)  # from a YAML list
    console_forbidden: Literal["unknown", "warning", "critical"] = "unknown"
    hygiene: Need = "warning"

    @model_validator(mode="after")
    def _mjf_needs_context(self) -> Policy:
        """MJF is read from the context phase's guest report."""
        if self.context == "off" and self.mjf != "off":
            raise ValueError(f"mjf is {self.mjf} but context is off: MJF is read from the "
                             "context report; set mjf: off too, or turn context on")
        return self


class Site(_Model):
    """One probe target, whatever its cloud: what to boot, how to reach the guest and the
    site's policy. Each driver's model adds how to log in and where its API is (OpenStackSite:
    Keystone auth, region, interface, TLS); parse() picks the model by ``driver``."""

    name: str
    driver: str = "openstack"   # a name in the driver registry (probes.drivers)
    auth: _Model                # each driver's model narrows it to its own auth
    image: ImageChoice | None = None  # required by the VM probe (checked where it is built)
    flavor: str | None = None
    network: str | None = None
    port: int = Field(22, ge=1, le=65535)
    port_metadata_key: str | None = None
    icmp: bool = False
    # untracked leftovers of this host go after this; below the floor a live run could go
    sweep_max_age: float = Field(3660.0, ge=3660.0)
    policy: Policy = Field(default_factory=Policy)

    @field_validator("driver")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        from probes import drivers

        if value not in drivers.names():
            raise ValueError(f"not a known driver (available: {', '.join(drivers.names())})")
        return value

    @property
    def proxy_file(self) -> str | None:
        """The X509 proxy the site's login presents, if any (what the proxy check watches)."""
        return None

    @property
    def ca_bundle(self) -> str | None:
        """The CA bundle or directory the site's TLS is checked against (None: the system's)."""
        return None


class OpenStackSite(Site):
    """An OpenStack site: a Keystone login, and the catalog's endpoints to use."""

    auth: Auth
    region: str | None = None
    interface: Literal["public", "internal", "admin"] = "public"
    cacert: str | None = None
    insecure: bool = False
    allow_http: bool = False

    @model_validator(mode="after")
    def _http_to_loopback(self) -> OpenStackSite:
        """Plain http only to loopback unless allow_http: a password or token would cross the
        network in clear (the configuration's fault, found before anything is sent)."""
        for key in ("auth_url", "token_endpoint"):
            url = getattr(self.auth, key)
            if url and urlsplit(url).scheme == "http" and not self.allow_http \
                    and not _loopback(urlsplit(url).hostname or ""):
                raise ValueError(f"auth.{key}: plain http to a non-loopback host; use https "
                                 "(or allow_http / --allow-http if you really must)")
        return self

    @property
    def proxy_file(self) -> str | None:
        return self.auth.x509_proxy

    @property
    def ca_bundle(self) -> str | None:
        return self.cacert


# site.driver -> its site model (a driver without one here uses OpenStackSite's: its unknown
# name is then the first error, as the driver field comes before any other but the name)
_MODELS: dict[str, type[Site]] = {"openstack": OpenStackSite}


def parse(data: dict[str, Any]) -> Site:
    """The site of its driver's kind (``openstack`` when ``driver`` is absent); pydantic's
    ValidationError as for any model."""
    driver = data.get("driver", "openstack")
    model = _MODELS.get(driver, OpenStackSite) if isinstance(driver, str) else OpenStackSite
    return model.model_validate(data)


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
