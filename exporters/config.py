"""The exporter's configuration: where to listen, which sites (from the VM probe's sites file),
which checks run how often, and the worker pools. Validated completely — every site built, every
secret file read — before it is used, so a bad config is refused at start-up and a bad reload is
rejected with the old config kept. Errors are one line naming the file, key and value."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from probes import files
from probes.config import sources, yamlfile
from probes.config.shown import OneLineError
from probes.config.site import Site
from probes.deadline import MAX_TIMEOUT
from probes.net import host_port
from probes.runner.inbox import check_url
from probes.runner.registry import CHECKS as REGISTRY
from probes.runner.registry import serves, unsupported

CHECKS = tuple(REGISTRY)  # vm, keystone, api, proxy, token
FAST = tuple(name for name, spec in REGISTRY.items() if spec.pool == "fast")
Seconds = Annotated[float, Field(gt=0)]


class ConfigError(OneLineError):
    """The exporter config (or a file it names) is unusable; one line."""


class _Model(BaseModel):
    # strict: `enabled: "no"` or `interval: "60"` is a mistake to name, not to convert
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class CheckConfig(_Model):
    """How one check runs for one site: its schedule and its own options."""

    enabled: bool = True
    interval: Seconds = 60.0
    # a run needs a moment for cleanup and recording; no run may outlive the sweep's age floor
    timeout: float = Field(30.0, ge=2.0, le=MAX_TIMEOUT)
    # keystone
    services: tuple[str, ...] = Field(("compute", "image", "network"), strict=False)
    token_warning: Seconds = 600.0
    # proxy and token: the file to check, the seconds-left thresholds
    file: str | None = None
    vo: str | None = None
    fqan: str | None = None
    cacert: str | None = None
    warning: float | None = None
    critical: float | None = None


_CHECK_DEFAULTS: dict[str, dict[str, Any]] = {
    "vm": {"interval": 900.0, "timeout": 600.0},
    "keystone": {"interval": 60.0, "timeout": 30.0},
    "api": {"interval": 120.0, "timeout": 30.0},
    "proxy": {"enabled": False, "interval": 300.0, "timeout": 10.0,
              "warning": 43200.0, "critical": 10800.0},
    "token": {"enabled": False, "interval": 300.0, "timeout": 10.0,
              "warning": 600.0, "critical": 120.0},
}


class Checks(_Model):
    vm: dict[str, Any] = Field(default_factory=dict)
    keystone: dict[str, Any] = Field(default_factory=dict)
    api: dict[str, Any] = Field(default_factory=dict)
    proxy: dict[str, Any] = Field(default_factory=dict)
    token: dict[str, Any] = Field(default_factory=dict)


class Workers(_Model):
    vm: int = Field(2, ge=1, le=64)
    fast: int = Field(8, ge=1, le=256)


class ExporterFile(_Model):
    """The YAML file as written by the operator."""

    listen: tuple[str, ...] = Field(("127.0.0.1:9847",), strict=False)  # a YAML list
    # the base URL guests post their report to (this exporter's web port as they reach it);
    # unset: no report channel, the vm checks read the console only
    report_url: str | None = None
    sites_file: str
    vo: str | None = None
    monitoring_host: str | None = Field(None, min_length=1, max_length=255)
    state_dir: str | None = None  # default: $FEDPROBE_STATE_DIR, /var/lib/fedprobe, XDG
    workers: Workers = Field(default_factory=Workers)
    history: int = Field(10, ge=1, le=1000)
    shutdown_grace: Seconds = 120.0
    checks: Checks = Field(default_factory=Checks)
    sites: dict[str, Checks | None] | None = None  # default: every site of sites_file


@dataclass(frozen=True)
class Job:
    """One scheduled check of one site."""

    site: str
    check: str
    options: CheckConfig

    @property
    def key(self) -> tuple[str, str]:
        """(site, check): at most one run of it at a time."""
        return self.site, self.check

    @property
    def pool(self) -> str:
        """Which worker pool runs it."""
        return REGISTRY[self.check].pool


@dataclass(frozen=True)
class ExporterConfig:
    """A validated config: the file, the sites (raw, secrets read at each run) and the jobs."""

    path: Path
    file: ExporterFile
    sites_path: Path
    sites: dict[str, dict[str, Any]]
    jobs: tuple[Job, ...]

    def site(self, name: str, need_image: bool) -> Site:
        """The site as a check uses it now (secret files read again: they may rotate)."""
        raw = sources.with_secrets(self.sites[name], self.sites_path)
        return sources.build([(f"sites file {self.sites_path}", raw)], need_image=need_image)


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "top level"


def _check(path: Path, site: str | None, name: str, *layers: dict[str, Any]) -> CheckConfig:
    """The check's options: built-in defaults, then each layer (``checks:``, the site's own).
    An error names the layer it is in: the site, or (site None) the global ``checks:``."""
    merged: dict[str, Any] = dict(_CHECK_DEFAULTS[name])
    for layer in layers:
        merged.update(layer)
    try:
        return CheckConfig.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        whose = f"site {site} check {name}" if site is not None else f"checks.{name}"
        raise ConfigError(f"exporter config {path}: {whose} "
                          f"{_where(err['loc'])} value {err.get('input')!r:.60}: "
                          f"{err['msg']}") from None


def load(path: Path) -> ExporterConfig:
    """Read and validate the exporter config and everything it refers to."""
    try:
        data = yamlfile.load(path)
    except (files.FileProblem, yamlfile.YamlProblem) as exc:
        raise ConfigError(f"exporter config {path}: {exc}") from None
    try:
        file = ExporterFile.model_validate(data if data is not None else {})
    except ValidationError as exc:
        err = exc.errors()[0]
        shown = "" if isinstance(err.get("input"), dict) else f" value {err.get('input')!r:.60}"
        raise ConfigError(f"exporter config {path}: {_where(err['loc'])}{shown}: "
                          f"{err['msg']}") from None
    for addr in file.listen:
        parse_listen(addr, path)
    if file.report_url is not None:
        try:
            check_url(file.report_url)
        except ValueError as exc:
            raise ConfigError(f"exporter config {path}: report_url {exc}") from None
    sites_path = (path.parent / os.path.expanduser(file.sites_file)).resolve()
    try:
        available = sources.all_sites(sites_path, file.vo)
    except sources.SiteError as exc:
        raise ConfigError(f"exporter config {path}: {exc}") from None
    wanted = file.sites if file.sites is not None else {name: None for name in available}
    for check in CHECKS:  # the global defaults first: their mistakes are no site's
        _check(path, None, check, getattr(file.checks, check))
    jobs = []
    for name, own in wanted.items():
        if name not in available:
            raise ConfigError(f"exporter config {path}: sites.{name}: no such site in "
                              f"{sites_path} (has: {', '.join(sorted(available)) or 'none'})")
        driver = available[name].get("driver", "openstack")
        for check in CHECKS:
            mine = getattr(own, check) if own is not None else {}
            options = _check(path, name, check, getattr(file.checks, check), mine)
            # a check the site's driver cannot answer (keystone and api: OpenStack's) is not
            # scheduled for it by default; asked for by the site itself, check_job refuses it
            if options.enabled and (serves(check, driver) or "enabled" in mine):
                jobs.append(Job(name, check, options))
    config = ExporterConfig(path, file, sites_path, {n: available[n] for n in wanted},
                            tuple(jobs))
    for job in jobs:
        check_job(config, job)
    return config


def options_for(config: ExporterConfig, site: str, check: str) -> CheckConfig:
    """The options a check of a site has in this config, scheduled or not (for /probe)."""
    own = (config.file.sites or {}).get(site)
    return _check(config.path, site, check, getattr(config.file.checks, check),
                  getattr(own, check) if own is not None else {})


def check_job(config: ExporterConfig, job: Job) -> None:
    """Build the site now, so a broken site or an unreadable secret fails the load."""
    try:
        site = config.site(job.site, need_image=job.check == "vm")
    except sources.SiteError as exc:
        raise ConfigError(f"exporter config {config.path}: site {job.site} ({job.check}): "
                          f"{exc}") from None
    wrong = unsupported(job.check, site)
    if wrong:
        raise ConfigError(f"exporter config {config.path}: site {job.site}: {wrong}")
    if job.check == "proxy" and not (job.options.file or site.proxy_file):
        raise ConfigError(f"exporter config {config.path}: site {job.site} check proxy: "
                          "needs file (or an x509 auth type with x509_proxy)")
    if job.check == "token" and not job.options.file:
        raise ConfigError(f"exporter config {config.path}: site {job.site} check token: "
                          "needs file (the OIDC access token file to watch)")
    wrong = files.unusable(job.options.file, files.SECRET_LIMIT) if job.options.file else None
    if wrong:
        raise ConfigError(f"exporter config {config.path}: site {job.site} check {job.check} "
                          f"file {job.options.file}: {wrong}")


def parse_listen(addr: str, path: Path | None = None) -> tuple[str, int]:
    """'127.0.0.1:9847', 'localhost:9847' or '[::1]:9847' -> (host, port)."""
    try:
        return host_port(addr)
    except ValueError:
        where = f"exporter config {path}: " if path else ""
        raise ConfigError(f"{where}listen value {addr!r:.80}: expected HOST:PORT or "
                          "[V6]:PORT") from None
