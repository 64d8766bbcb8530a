"""The sandbox cloud's configuration: a YAML file (optional) validated into frozen models.

Every key has a default, so the sandbox works with no file at all. Unknown keys are rejected and
errors name the file, the key and the offending value on one line.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from probes.sandbox.faults import Faults

_SECRET_KEYS = ("password", "secret", "token")


class SandboxConfigError(Exception):
    """A sandbox configuration that cannot be used; the message is one line for the operator."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Project(_Model):
    name: str
    id: str | None = None
    domain: str = "default"
    description: str = ""


class User(_Model):
    name: str
    password: str
    id: str | None = None
    domain: str = "default"
    projects: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=lambda: ["member", "reader"])


class AppCredential(_Model):
    id: str
    secret: str
    user: str
    project: str
    name: str = "fedprobe"


class OidcToken(_Model):
    """An OIDC access token the federation endpoint accepts, and who it maps to."""

    token: str
    user: str
    projects: list[str]
    groups: list[str] = Field(default_factory=list)
    refresh_token: str | None = None  # exchanged for ``token`` at the sandbox's /oidc/token


class IdentityProvider(_Model):
    id: str
    protocols: list[str] = Field(default_factory=lambda: ["openid"])
    tokens: list[OidcToken] = Field(default_factory=list)


class X509Mapping(_Model):
    """Clients whose proxy carries an FQAN of this VO get a role on this project."""

    vo: str
    project: str


class X509(_Model):
    """X509/VOMS logins (needs --tls): client certificates, RFC 3820 proxies included, are
    asked for and verified against ``client_ca`` (CA files or hashed directories)."""

    client_ca: list[str] = Field(default_factory=list)
    identity_provider: str = "x509"
    protocols: list[str] = Field(default_factory=lambda: ["mapped"])
    mappings: list[X509Mapping] = Field(default_factory=list)


class Identity(_Model):
    domains: list[dict[str, str]] = Field(
        default_factory=lambda: [{"id": "default", "name": "Default"}]
    )
    projects: list[Project] = Field(
        default_factory=lambda: [
            Project(name="demo", description="fedprobe demo project"),
            Project(name="vo.example.org", description="project of the test VO vo.example.org"),
            Project(name="ops.example.org", description="project of the test VO ops.example.org"),
        ]
    )
    users: list[User] = Field(
        default_factory=lambda: [
            User(name="demo", password="sandbox-demo-pw", projects=["demo", "vo.example.org"]),
            User(name="probe", password="sandbox-probe-pw", projects=["ops.example.org"]),
        ]
    )
    application_credentials: list[AppCredential] = Field(
        default_factory=lambda: [
            AppCredential(
                id="sandbox-appcred-demo", secret="sandbox-appcred-secret",
                user="demo", project="demo",
            )
        ]
    )
    identity_providers: list[IdentityProvider] = Field(
        default_factory=lambda: [
            IdentityProvider(
                id="egi.eu",
                protocols=["openid"],
                tokens=[OidcToken(token="sandbox-oidc-access-token", user="egi-user@egi.eu",
                                  projects=["vo.example.org"],
                                  refresh_token="sandbox-oidc-refresh-token")],
            )
        ]
    )
    token_lifetime: float = Field(3600.0, gt=0)
    oidc_client_id: str = "fedprobe-sandbox"
    x509: X509 = Field(default_factory=X509)


class Image(_Model):
    name: str
    id: str | None = None
    min_disk: int = Field(0, ge=0)
    min_ram: int = Field(0, ge=0)
    disk_format: str = "qcow2"
    container_format: str = "bare"
    visibility: Literal["public", "private", "shared", "community"] = "public"
    size: int = Field(16_338_944, ge=0)
    protected: bool = False
    os_hidden: bool = False  # listed only when asked for (os_hidden=true)
    properties: dict[str, str] = Field(default_factory=dict)


class Flavor(_Model):
    name: str
    vcpus: int = Field(gt=0)
    ram: int = Field(gt=0)
    disk: int = Field(ge=0)
    id: str | None = None
    ephemeral: int = 0
    swap: int = 0
    is_public: bool = True


class Subnet(_Model):
    cidr: str
    name: str | None = None
    gateway_ip: str | None = None

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        ipaddress.ip_network(value, strict=True)
        return value


class Network(_Model):
    name: str
    id: str | None = None
    project: str | None = None
    shared: bool = False
    external: bool = False
    status: Literal["ACTIVE", "DOWN", "BUILD", "ERROR"] = "ACTIVE"
    subnets: list[Subnet] = Field(default_factory=list)


class Quota(_Model):
    instances: int = 10
    cores: int = 20
    ram: int = 51200
    metadata_items: int = 128


def _mjf(values: dict[str, str | int | float]) -> dict[str, str | int | float]:
    return values


class Mjf(_Model):
    """Machine/job features offered to guests; absent keys are computed per server."""

    machine: dict[str, str | int | float] = Field(
        default_factory=lambda: _mjf({"total_cpu": 2, "hs06": 20.5, "grace_secs": 600})
    )
    job: dict[str, str | int | float] = Field(
        default_factory=lambda: _mjf({"allocated_cpu": 1, "hs06_job": 10.25, "grace_secs_job": 300,
                                 "wall_limit_secs": 172800, "cpu_limit_secs": 172800,
                                 "max_rss_bytes": 2147483648})
    )
    lifetime_secs: int = Field(172800, gt=0)


class QemuGuests(_Model):
    """Real tiny VMs (guests.kind qemu)."""

    binary: str = "qemu-system-x86_64"
    # tiny: kernel + busybox initramfs (~3-5 s to user-data); debian: Debian 12 with real
    # cloud-init (opt-in, slow: a 2 min build once, 30-90 s boots; at least 512 MiB, 2 vCPUs)
    image: Literal["tiny", "debian"] = "tiny"
    min_ram_mb: int = Field(128, ge=64, le=4096)   # the flavor's RAM, within these bounds
    max_ram_mb: int = Field(256, ge=64, le=4096)
    cpus: int = Field(1, ge=1, le=4)
    image_cache: str | None = None  # default: $FEDPROBE_CACHE or ~/.cache/fedprobe


class Guests(_Model):
    kind: Literal["auto", "process", "namespace", "qemu"] = "auto"
    boot_delay: float = Field(0.0, ge=0)
    boot_timeout: float = Field(90.0, gt=0)  # a guest not booted by then: ERROR
    qemu: QemuGuests = Field(default_factory=QemuGuests)
    console_limit_bytes: int = Field(1_048_576, gt=0)
    bridge: str | None = None


class SandboxConfig(_Model):
    region: str = "RegionOne"
    identity: Identity = Field(default_factory=Identity)
    images: list[Image] = Field(
        default_factory=lambda: [
            Image(name="cirros-0.6.2-x86_64", min_disk=1, min_ram=64,
                  properties={"os_distro": "cirros", "os_version": "0.6.2",
                              "ad:appid": "egi.cirros.0.6"}),
            Image(name="ubuntu-22.04", min_disk=5, min_ram=512, size=660_000_000,
                  properties={"os_distro": "ubuntu", "os_version": "22.04",
                              "ad:appid": "egi.ubuntu.22.04"}),
            Image(name="private-image", visibility="private", min_disk=1),
        ]
    )
    flavors: list[Flavor] = Field(
        default_factory=lambda: [
            Flavor(name="m1.tiny", vcpus=1, ram=512, disk=1, id="1"),
            Flavor(name="m1.small", vcpus=1, ram=2048, disk=20, id="2"),
            Flavor(name="m1.medium", vcpus=2, ram=4096, disk=40, id="3"),
            Flavor(name="c1.nano", vcpus=1, ram=64, disk=1, id="42"),
        ]
    )
    networks: list[Network] = Field(
        default_factory=lambda: [
            Network(name="demo-net", project="demo",
                    subnets=[Subnet(name="demo-v4", cidr="198.51.100.0/25"),
                             Subnet(name="demo-v6", cidr="2001:db8:fed:1::/64")]),
            Network(name="shared-net", shared=True,
                    subnets=[Subnet(name="shared-v4", cidr="198.51.100.128/25"),
                             Subnet(name="shared-v6", cidr="2001:db8:fed:2::/64")]),
            Network(name="public", shared=True, external=True),
        ]
    )
    quota: Quota = Field(default_factory=Quota)
    mjf: Mjf = Field(default_factory=Mjf)
    guests: Guests = Field(default_factory=Guests)
    delete_delay: float = Field(0.2, ge=0)
    # Nova's [api] max_limit: the most servers or flavors one list answer holds (with or without
    # `limit`); a full page carries a `servers_links`/`flavors_links` next link.
    max_limit: int = Field(1000, ge=1)
    faults: Faults = Field(default_factory=Faults)
    seed: int | None = None

    @model_validator(mode="after")
    def _references(self) -> SandboxConfig:
        """Names that refer to other entries must exist (checked here, not at start-up)."""
        ident = self.identity
        projects = {p.name for p in ident.projects}
        users = {u.name for u in ident.users}
        for i, user in enumerate(ident.users):
            for j, name in enumerate(user.projects):
                if name not in projects:
                    raise ValueError(f"identity.users.{i}.projects.{j}: unknown project {name!r}")
        for i, cred in enumerate(ident.application_credentials):
            if cred.user not in users:
                raise ValueError(f"identity.application_credentials.{i}.user: unknown user "
                                 f"{cred.user!r}")
            if cred.project not in projects:
                raise ValueError(f"identity.application_credentials.{i}.project: unknown "
                                 f"project {cred.project!r}")
        for i, idp in enumerate(ident.identity_providers):
            for j, tok in enumerate(idp.tokens):
                for name in tok.projects:
                    if name not in projects:
                        raise ValueError(f"identity.identity_providers.{i}.tokens.{j}.projects: "
                                         f"unknown project {name!r}")
        for i, mapping in enumerate(ident.x509.mappings):
            if mapping.project not in projects:
                raise ValueError(f"identity.x509.mappings.{i}.project: unknown project "
                                 f"{mapping.project!r}")
        for i, net in enumerate(self.networks):
            if net.project is not None and net.project not in projects:
                raise ValueError(f"networks.{i}.project: unknown project {net.project!r}")
        return self


def describe(loc: tuple[Any, ...], value: Any) -> tuple[str, str]:
    """The dotted key of a validation error's location and the value, shown safely."""
    key = ".".join(str(part) for part in loc) or "(top level)"
    shown = "<redacted>" if any(s in key.lower() for s in _SECRET_KEYS) else repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return key, shown


def parse_config(data: Any, source: str = "<config>") -> SandboxConfig:
    """Validate a mapping into a SandboxConfig or raise SandboxConfigError naming key and value."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise SandboxConfigError(f"{source}: top level must be a mapping, got {kind}")
    try:
        return SandboxConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        if not first["loc"]:  # cross-reference checks name their key in the message
            raise SandboxConfigError(f"{source}: {message}") from None
        key, shown = describe(tuple(first["loc"]), first.get("input"))
        raise SandboxConfigError(f"{source}: key '{key}' value {shown}: {message}") from None


def load_config(path: str | Path | None) -> SandboxConfig:
    """Read and validate a sandbox YAML file (None: the built-in defaults)."""
    if path is None:
        return SandboxConfig()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SandboxConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise SandboxConfigError(f"{path}:{where} not valid YAML") from None
    return parse_config(data, str(path))
