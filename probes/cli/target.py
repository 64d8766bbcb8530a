"""The options every site-facing plugin shares (where the target is, how to log in, TLS) and
building the Site from them and the other sources. Used by `fedprobe vm`, `keystone`, `api`."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from probes.cli.plugin import named_path

if TYPE_CHECKING:
    from probes.config.site import Site

# auth type names accepted on the command line (as in clouds.yaml, or fedprobe's own)
AUTH_TYPES = ("application_credential", "oidc_access_token", "oidc_refresh_token", "password",
              "token", "v3applicationcredential", "v3oidcaccesstoken", "v3password", "v3token",
              "x509_mapped", "x509_voms_v2")
_NOT_AUTH = ("os_cloud", "os_auth_type", "os_region_name", "os_interface")


def add_target_options(p: argparse.ArgumentParser) -> None:
    """-H, sites file, clouds.yaml, auth options (secrets only as files), region, TLS."""
    t = p.add_argument_group("target (later sources win: --sites, OS_*, --os-cloud, flags)")
    t.add_argument("-H", "--hostname", help="Keystone URL, or a site name in --sites")
    t.add_argument("--sites", type=named_path, help="fedprobe sites file or EGI per-site YAML")
    t.add_argument("--site", help="site name in --sites (default: -H)")
    t.add_argument("--vo", help="VO whose project to use (EGI per-site files)")
    t.add_argument("--os-cloud", help="cloud name in clouds.yaml")
    a = p.add_argument_group("authentication (secrets only from files or OS_* variables)")
    a.add_argument("--os-auth-type", choices=AUTH_TYPES)
    for opt in ("username", "user-domain-name", "project-name", "project-id",
                "project-domain-name", "application-credential-id", "identity-provider",
                "protocol", "token-endpoint", "client-id"):
        a.add_argument(f"--os-{opt}")
    for opt in ("password", "application-credential-secret", "token", "access-token",
                "refresh-token", "client-secret"):
        a.add_argument(f"--os-{opt}-file", metavar="FILE")
    a.add_argument("--os-x509-proxy", metavar="FILE",
                   help="X509/VOMS proxy presented as TLS client certificate (x509_* types)")
    a.add_argument("--os-region-name")
    a.add_argument("--os-interface", choices=("public", "internal", "admin"))
    a.add_argument("--cacert", help="CA bundle file or hashed CA directory")
    a.add_argument("--insecure", action="store_true", help="do NOT verify TLS (loud)")
    a.add_argument("--allow-http", action="store_true", help="allow http to non-loopback")


def target_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The site keys given by the shared options."""
    auth: dict[str, Any] = {}
    if args.hostname and "://" in args.hostname:
        auth["auth_url"] = args.hostname
    if args.os_auth_type:
        auth["type"] = args.os_auth_type
    for key, value in vars(args).items():
        if key.startswith("os_") and value is not None and key not in _NOT_AUTH:
            auth[key[3:]] = value
    site: dict[str, Any] = {"auth": auth} if auth else {}
    simple = {"region": args.os_region_name, "interface": args.os_interface,
              "cacert": args.cacert}
    site.update({k: v for k, v in simple.items() if v is not None})
    for flag in ("insecure", "allow_http"):
        if getattr(args, flag):
            site[flag] = True
    return site


def build_site(args: argparse.Namespace, environ: dict[str, str],
               flags: dict[str, Any], need_image: bool) -> Site:
    """The probe target from every source, later ones winning (flags last)."""
    from probes.config import sources

    layers: list[tuple[str, dict[str, Any]]] = []
    if args.sites:
        name = args.site or (args.hostname if args.hostname and "://" not in args.hostname
                             else None)
        layers.append(("sites file", sources.from_sites_file(args.sites, name, args.vo)))
    layers.append(("OS_* environment", sources.from_env(environ)))
    if args.os_cloud:
        cloud = sources.from_clouds_yaml(args.os_cloud, environ)
        layers.append(("clouds.yaml", {"name": args.os_cloud, **cloud}))
    if args.hostname and "://" not in args.hostname and not args.sites and not args.os_cloud:
        layers.append(("-H", {"name": args.hostname}))
    if "auth" in flags:
        flags = {**flags, "auth": sources.read_secret_files(flags["auth"], "command line")}
    layers.append(("command line", flags))
    return sources.build(layers, need_image=need_image)
