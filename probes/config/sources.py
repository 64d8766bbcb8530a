"""Where a probe target comes from, merged in the order operators expect (later wins): a sites
file entry (fedprobe's own format, or EGI's fedcloud-catchall-operations per-site YAML), OS_*
environment variables, ``--os-cloud`` from clouds.yaml, then command-line flags.

Secrets may be given as ``*_file`` keys (the file's content is the secret), never echoed back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from probes.config import cafile
from probes.config.site import SECRET_OPTIONS, Site


class SiteError(Exception):
    """A probe target cannot be built; one line naming the source, key and (safe) value."""


_AUTH_TYPES = {"password": "password", "v3password": "password",
               "v3applicationcredential": "application_credential",
               "application_credential": "application_credential", "token": "token",
               "v3token": "token", "v3oidcaccesstoken": "oidc_access_token",
               "oidc_access_token": "oidc_access_token",
               "oidc_refresh_token": "oidc_refresh_token", "x509_mapped": "x509_mapped",
               "x509_voms_v2": "x509_voms_v2"}
_ENV_AUTH = {"OS_AUTH_URL": "auth_url", "OS_USERNAME": "username", "OS_USER_ID": "user_id",
             "OS_PASSWORD": "password", "OS_USER_DOMAIN_NAME": "user_domain_name",
             "OS_USER_DOMAIN_ID": "user_domain_id", "OS_PROJECT_NAME": "project_name",
             "OS_PROJECT_ID": "project_id", "OS_PROJECT_DOMAIN_NAME": "project_domain_name",
             "OS_PROJECT_DOMAIN_ID": "project_domain_id",
             "OS_APPLICATION_CREDENTIAL_ID": "application_credential_id",
             "OS_APPLICATION_CREDENTIAL_NAME": "application_credential_name",
             "OS_APPLICATION_CREDENTIAL_SECRET": "application_credential_secret",
             "OS_TOKEN": "token", "OS_ACCESS_TOKEN": "access_token",
             "OS_IDENTITY_PROVIDER": "identity_provider", "OS_PROTOCOL": "protocol",
             "OS_REFRESH_TOKEN": "refresh_token", "OS_TOKEN_ENDPOINT": "token_endpoint",
             "OS_CLIENT_ID": "client_id", "OS_CLIENT_SECRET": "client_secret"}
_CLOUDS_PATHS = ("clouds.yaml", "~/.config/openstack/clouds.yaml", "/etc/openstack/clouds.yaml")


def _read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SiteError(f"{what} {path}: cannot read: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise SiteError(f"{what} {path}: not UTF-8 text") from None
    except yaml.YAMLError as exc:
        raise SiteError(f"{what} {path}: not valid YAML{yaml_where(exc)}") from None


def yaml_where(exc: yaml.YAMLError) -> str:
    """' at line L, column C: what is wrong' from a YAML error (as an editor counts, from 1)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return where + (f": {problem}" if problem else "")


def read_secret_files(auth: dict[str, Any], source: str,
                      base: Path | None = None) -> dict[str, Any]:
    """Replace ``<secret>_file`` keys by the file's content (a relative path is relative to
    `base`, the directory of the file that names it); map auth type aliases."""
    out = dict(auth)
    for key in list(out):
        if key.endswith("_file") and key[:-5] in SECRET_OPTIONS:
            path = Path(os.path.expanduser(str(out.pop(key))))
            if base is not None and not path.is_absolute():
                path = base / path
            try:
                out[key[:-5]] = path.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SiteError(f"{source}: {key} {path}: cannot read: {exc.strerror}"
                                ) from None
            except UnicodeDecodeError:
                raise SiteError(f"{source}: {key} {path}: not UTF-8 text") from None
    if "type" in out:
        out["type"] = _AUTH_TYPES.get(str(out["type"]), out["type"])
    return out


def from_env(environ: dict[str, str]) -> dict[str, Any]:
    """OS_* variables as a partial site."""
    auth = {key: environ[var] for var, key in _ENV_AUTH.items() if environ.get(var)}
    site: dict[str, Any] = {}
    if auth:
        if environ.get("OS_AUTH_TYPE"):
            auth["type"] = environ["OS_AUTH_TYPE"]
        site["auth"] = read_secret_files(auth, "environment")
    for var, key in (("OS_REGION_NAME", "region"), ("OS_INTERFACE", "interface"),
                     ("OS_CACERT", "cacert")):
        if environ.get(var):
            site[key] = environ[var]
    return site


def from_clouds_yaml(name: str, environ: dict[str, str]) -> dict[str, Any]:
    """One cloud of clouds.yaml (OS_CLIENT_CONFIG_FILE or the standard search path)."""
    paths = [environ["OS_CLIENT_CONFIG_FILE"]] if environ.get("OS_CLIENT_CONFIG_FILE") else \
        list(_CLOUDS_PATHS)
    for raw in paths:
        path = Path(os.path.expanduser(raw))
        if not path.is_file():
            continue
        data = _read_yaml(path, "clouds.yaml") or {}
        clouds = (data.get("clouds") if isinstance(data, dict) else None) or {}
        if not isinstance(clouds, dict):
            raise SiteError(f"clouds.yaml {path}: 'clouds' must be a mapping of names to clouds")
        if name not in clouds:
            raise SiteError(f"clouds.yaml {path}: no cloud named {name!r} "
                            f"(has: {', '.join(sorted(clouds)) or 'none'})")
        cloud = clouds[name]
        if not isinstance(cloud, dict) or not isinstance(cloud.get("auth") or {}, dict):
            raise SiteError(f"clouds.yaml {path}: cloud {name!r} and its auth must be mappings")
        auth = dict(cloud.get("auth") or {})
        auth["type"] = cloud.get("auth_type", "password")
        site: dict[str, Any] = {"auth": read_secret_files(auth, f"clouds.yaml {path}")}
        for key, target in (("region_name", "region"), ("interface", "interface"),
                            ("cacert", "cacert")):
            if cloud.get(key):
                site[target] = cloud[key]
        if cloud.get("verify") is False:
            site["insecure"] = True
        return site
    raise SiteError(f"--os-cloud {name}: no clouds.yaml found (looked in {', '.join(paths)})")


def _from_egi(data: dict[str, Any], path: Path, vo: str | None) -> dict[str, Any]:
    """EGI fedcloud-catchall-operations per-site YAML: gocdb, endpoint, protocol, vos."""
    vos = {v.get("name"): v for v in data.get("vos") or []}
    if vo is None or vo not in vos:
        raise SiteError(f"sites file {path}: EGI site format needs --vo, one of: "
                        f"{', '.join(sorted(str(v) for v in vos)) or 'none'}")
    auth = {"type": "oidc_access_token", "auth_url": data["endpoint"],
            "identity_provider": data.get("identity_provider", "egi.eu"),
            "protocol": data.get("protocol", "openid"),
            "project_id": (vos[vo].get("auth") or {}).get("project_id")}
    site: dict[str, Any] = {"name": str(data["gocdb"]), "auth": auth}
    if data.get("region"):
        site["region"] = data["region"]
    return site


def from_sites_file(path: Path, name: str | None, vo: str | None) -> dict[str, Any]:
    """One site of a fedprobe sites file (``defaults`` + ``sites``), or an EGI site file."""
    data = _read_yaml(path, "sites file")
    if not isinstance(data, dict):
        raise SiteError(f"sites file {path}: top level must be a mapping")
    if "gocdb" in data and "endpoint" in data:
        return _from_egi(data, path, vo)
    sites = data.get("sites") or {}
    if name is None or name not in sites:
        raise SiteError(f"sites file {path}: no site {name!r} (has: "
                        f"{', '.join(sorted(sites)) or 'none'})")
    return with_secrets(_entry(data, name), path)


def _entry(data: dict[str, Any], name: str) -> dict[str, Any]:
    entry = (data.get("sites") or {})[name]
    if entry is not None and not isinstance(entry, dict):
        raise SiteError(f"sites file: site {name!r} must be a mapping")
    merged = merge(dict(data.get("defaults") or {}), dict(entry or {}))
    merged["name"] = name
    return merged


def with_secrets(site: dict[str, Any], path: Path) -> dict[str, Any]:
    """The site with its ``*_file`` secrets read now (files may be rotated between runs)."""
    if "auth" not in site:
        return site
    return {**site, "auth": read_secret_files(site["auth"], f"sites file {path}", path.parent)}


def all_sites(path: Path, vo: str | None) -> dict[str, dict[str, Any]]:
    """Every site of a sites file, unvalidated and with secret files not read yet."""
    data = _read_yaml(path, "sites file")
    if not isinstance(data, dict):
        raise SiteError(f"sites file {path}: top level must be a mapping")
    if "gocdb" in data and "endpoint" in data:
        site = _from_egi(data, path, vo)
        return {site["name"]: site}
    sites = data.get("sites") or {}
    if not isinstance(sites, dict):
        raise SiteError(f"sites file {path}: 'sites' must be a mapping of names to sites")
    return {str(name): _entry(data, name) for name in sites}


_ATOMIC = frozenset({"image"})  # one way of choosing: a later choice replaces, never mixes


def merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    """Deep merge: mappings merge (except choices like ``image``), the rest of ``top`` replaces."""
    out = dict(base)
    for key, value in top.items():
        if key not in _ATOMIC and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def build(layers: list[tuple[str, dict[str, Any]]], need_image: bool = True) -> Site:
    """Merge the layers (later wins) and validate; errors name key and value, secrets hidden."""
    merged: dict[str, Any] = {}
    for _, layer in layers:
        merged = merge(merged, layer)
    merged.setdefault("name", _default_name(merged))
    sources = ", ".join(name for name, layer in layers if layer) or "no source"
    if "auth" not in merged:
        raise SiteError("no credentials: give --os-cloud, --sites/--site or OS_* variables "
                        f"(looked at: {sources})")
    if need_image and "image" not in merged:
        raise SiteError("no image chosen: give --image-name, --image-id or --image-property "
                        "(or image: in the sites file)")
    try:
        site = Site.model_validate(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "site"
        secret = any(part in SECRET_OPTIONS for part in err["loc"])
        value = "<redacted>" if secret else repr(err.get("input"))[:80]
        message = str(err["msg"]).removeprefix("Value error, ")
        structured = isinstance(err.get("input"), dict | list)  # may hold secrets: not shown
        # an unknown key may be a misspelled secret (pasword: ...): its value is never shown
        unknown = err["type"] == "extra_forbidden"
        shown = "" if not err["loc"] or structured or unknown else f" value {value}"
        raise SiteError(f"site {key}{shown}: {message} (from {sources})") from None
    wrong = cafile.problem(site.cacert) if site.cacert and not site.insecure else None
    if wrong:
        raise SiteError(f"site cacert {site.cacert}: {wrong} (from {sources})")
    return site


def _default_name(merged: dict[str, Any]) -> str:
    url = str((merged.get("auth") or {}).get("auth_url", ""))
    return url.split("//", 1)[-1].split("/", 1)[0] or "site"
