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

from probes import files
from probes.config import cafile, urls, yamlfile
from probes.config.shown import OneLineError
from probes.config.site import SECRET_OPTIONS, Site, parse


class SiteError(OneLineError):
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
        return yamlfile.load(path)
    except (files.FileProblem, yamlfile.YamlProblem) as exc:
        raise SiteError(f"{what} {path}: {exc}") from None


def yaml_where(exc: yaml.YAMLError) -> str:
    """' at line L, column C: what is wrong' from a YAML error (as an editor counts, from 1)."""
    return yamlfile.where(exc)


def _kind(value: Any) -> str:
    """What a YAML value is, in words: 'a list', 'the number 5' (never a secret's text)."""
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "text" if isinstance(value, str) else "empty" if value is None else "a value"


def mapping(value: Any, where: str) -> dict[str, Any]:
    """`value` if it is a mapping (None: an empty one), else SiteError naming `where`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SiteError(f"{where} must be a mapping, not {_kind(value)}")
    return value


def read_secret_files(auth: Any, source: str, base: Path | None = None) -> dict[str, Any]:
    """Replace ``<secret>_file`` keys by the file's content (a relative path is relative to
    `base`, the directory of the file that names it); map auth type aliases. The file's name is
    never shown: an operator who pasted the secret itself there must not see it echoed."""
    out = dict(mapping(auth, f"{source}: auth"))
    for key in list(out):
        if key.endswith("_file") and key[:-5] in SECRET_OPTIONS:
            raw = out.pop(key)
            if not isinstance(raw, str) or not raw:
                raise SiteError(f"{source}: auth.{key} must be a file name, not {_kind(raw)}")
            path = Path(os.path.expanduser(raw))
            if base is not None and not path.is_absolute():
                path = base / path
            try:
                out[key[:-5]] = files.read_text(path, files.SECRET_LIMIT).strip()
            except files.FileProblem as exc:
                raise SiteError(f"{source}: auth.{key}: the file it names: {exc}") from None
    if isinstance(out.get("type"), str):
        out["type"] = _AUTH_TYPES.get(out["type"], out["type"])
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
        data = mapping(_read_yaml(path, "clouds.yaml"), f"clouds.yaml {path}: the top level")
        clouds = mapping(data.get("clouds"), f"clouds.yaml {path}: clouds")
        if name not in clouds:
            raise SiteError(f"clouds.yaml {path}: no cloud named {name!r} "
                            f"(has: {', '.join(sorted(clouds)) or 'none'})")
        cloud = mapping(clouds[name], f"clouds.yaml {path}: clouds.{name}")
        auth = dict(mapping(cloud.get("auth"), f"clouds.yaml {path}: clouds.{name}.auth"))
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
    where = f"sites file {path}"
    for key in ("gocdb", "endpoint"):
        if not isinstance(data[key], str) or not data[key]:
            raise SiteError(f"{where}: {key} must be text, not {_kind(data[key])}")
    entries = data.get("vos") or []
    if not isinstance(entries, list):
        raise SiteError(f"{where}: vos must be a list of VOs, not {_kind(entries)}")
    vos: dict[str, dict[str, Any]] = {}
    for i, entry in enumerate(entries):
        entry = mapping(entry, f"{where}: vos[{i}]")
        if not isinstance(entry.get("name"), str):
            raise SiteError(f"{where}: vos[{i}].name must be text, not {_kind(entry.get('name'))}")
        vos[entry["name"]] = entry
    if vo is None or vo not in vos:
        raise SiteError(f"{where}: EGI site format needs --vo, one of: "
                        f"{', '.join(sorted(vos)) or 'none'}")
    vo_auth = mapping(vos[vo].get("auth"), f"{where}: the auth of VO {vo}")
    auth = {"type": "oidc_access_token", "auth_url": data["endpoint"],
            "identity_provider": data.get("identity_provider", "egi.eu"),
            "protocol": data.get("protocol", "openid"),
            "project_id": vo_auth.get("project_id")}
    site: dict[str, Any] = {"name": data["gocdb"], "auth": auth}
    if data.get("region"):
        site["region"] = data["region"]
    return site


_SITES_KEYS = ("defaults", "sites")


def _sites_doc(path: Path) -> dict[str, Any]:
    """The sites file's top level: a fedprobe file (defaults, sites) or an EGI site file."""
    data = mapping(_read_yaml(path, "sites file"), f"sites file {path}: the top level")
    if "gocdb" in data and "endpoint" in data:
        return data
    unknown = [str(k) for k in data if k not in _SITES_KEYS]
    if unknown:
        raise SiteError(f"sites file {path}: unknown top-level key {unknown[0]!r:.40} (a "
                        "fedprobe sites file has defaults and sites; an EGI site file has "
                        "gocdb and endpoint)")
    mapping(data.get("defaults"), f"sites file {path}: defaults")
    mapping(data.get("sites"), f"sites file {path}: sites")
    return data


def from_sites_file(path: Path, name: str | None, vo: str | None) -> dict[str, Any]:
    """One site of a fedprobe sites file (``defaults`` + ``sites``), or an EGI site file."""
    data = _sites_doc(path)
    if "gocdb" in data and "endpoint" in data:
        return _from_egi(data, path, vo)
    sites = {str(k): v for k, v in (data.get("sites") or {}).items()}
    if name is None or name not in sites:
        raise SiteError(f"sites file {path}: no site {name!r} (has: "
                        f"{', '.join(sorted(sites)) or 'none'})")
    return with_secrets(_entry(data, name, path), path)


def _entry(data: dict[str, Any], name: str, path: Path) -> dict[str, Any]:
    entry = {str(k): v for k, v in (data.get("sites") or {}).items()}[name]
    merged = merge(dict(data.get("defaults") or {}),
                   dict(mapping(entry, f"sites file {path}: sites.{name}")))
    merged["name"] = name
    return merged


def with_secrets(site: dict[str, Any], path: Path) -> dict[str, Any]:
    """The site with its ``*_file`` secrets read now (files may be rotated between runs)."""
    if "auth" not in site:
        return site
    return {**site, "auth": read_secret_files(site["auth"], f"sites file {path}", path.parent)}


def all_sites(path: Path, vo: str | None) -> dict[str, dict[str, Any]]:
    """Every site of a sites file, unvalidated and with secret files not read yet."""
    data = _sites_doc(path)
    if "gocdb" in data and "endpoint" in data:
        site = _from_egi(data, path, vo)
        return {site["name"]: site}
    names = [str(k) for k in data.get("sites") or {}]
    return {name: _entry(data, name, path) for name in names}


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
    nul = _nul_at(merged)
    if nul is not None:
        raise SiteError(f"site {nul}: holds a NUL character (from {sources})")
    if "auth" not in merged:
        raise SiteError("no credentials: give --os-cloud, --sites/--site or OS_* variables "
                        f"(looked at: {sources})")
    if need_image and "image" not in merged:
        raise SiteError("no image chosen: give --image-name, --image-id or --image-property "
                        "(or image: in the sites file)")
    try:
        site = parse(merged)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"]) or "site"
        secret = any(part in SECRET_OPTIONS for part in err["loc"])
        value = "<redacted>" if secret else urls.redact(repr(err.get("input")))[:60]
        message = str(err["msg"]).removeprefix("Value error, ")
        structured = isinstance(err.get("input"), dict | list)  # may hold secrets: not shown
        # an unknown key may be a misspelled secret (pasword: ...): its value is never shown
        unknown = err["type"] == "extra_forbidden"
        shown = "" if not err["loc"] or structured or unknown else f" value {value}"
        raise SiteError(f"site {key}{shown}: {message} (from {sources})") from None
    insecure = getattr(site, "insecure", False)  # a driver without TLS options has no cacert
    wrong = cafile.problem(site.ca_bundle) if site.ca_bundle and not insecure else None
    if wrong:
        raise SiteError(f"site cacert {site.ca_bundle}: {wrong} (from {sources})")
    return site


def _nul_at(value: Any, at: str = "") -> str | None:
    """Where a NUL character is, in a key or a text value (no file name or URL holds one)."""
    if isinstance(value, str):
        return (at or "value") if "\x00" in value else None
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, inner in items:
        where = f"{at}.{key}" if at else str(key)
        found = "key" if isinstance(key, str) and "\x00" in key else _nul_at(inner, where)
        if found is not None:
            return where if found == "key" else found
    return None


def _default_name(merged: dict[str, Any]) -> str:
    url = str((merged.get("auth") or {}).get("auth_url", ""))
    return url.split("//", 1)[-1].split("/", 1)[0] or "site"
