"""``fedprobe proxy``: Nagios plugin checking an X509/VOMS proxy — present with safe permissions,
not expired, chain trusted, the VO's AC present/valid with the expected FQAN, time left vs
-w/-c — and optionally renewing it with voms-proxy-init (robot certificates)."""

from __future__ import annotations

import argparse
import datetime as dt
import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probes import files
from probes.checks.nagios import unknown_line
from probes.cli.env import Environment, ExitStatus
from probes.cli.plugin import (
    add_nagios_options,
    add_plugin,
    nagios_ranges,
    named_path,
    valid_files,
    valid_timeout,
)
from probes.report.atomic import replacing

if TYPE_CHECKING:
    from probes.checks.proxy import ProxyVerdict

NAME = "X509_PROXY"  # probes.checks.proxy.NAME, without importing it (and pyasn1) here
DEFAULT_WARNING = "43200:"   # alert when less than 12 h are left
DEFAULT_CRITICAL = "10800:"  # alert when less than 3 h are left


def register(sub: Any) -> None:
    """Add the ``proxy`` subcommand."""
    p = add_plugin(sub, "proxy", NAME,
                   help="Nagios plugin: check (and optionally renew) an X509/VOMS proxy",
                   description="Check an X509 proxy: file and permissions, expiry, chain, VOMS "
                               "AC.")
    p.add_argument("-H", "--hostname", help="accepted for ARGO; names the service")
    p.add_argument("--file", type=named_path,
                   help="proxy file (default: $X509_USER_PROXY, else /tmp/x509up_u<uid>)")
    p.add_argument("--cacert", help="CA bundle or hashed CA directory to verify the chain")
    p.add_argument("--vo", help="VO whose VOMS attribute certificate must be present")
    p.add_argument("--fqan", help="FQAN that must be in the VO's AC")
    add_nagios_options(p, timeout=30.0, warning=DEFAULT_WARNING, critical=DEFAULT_CRITICAL,
                       measures="seconds left")
    p.add_argument("--with-voms-proxy-info", action="store_true",
                   help="also ask voms-clients' voms-proxy-info and report any disagreement")
    r = p.add_argument_group("renewal (voms-proxy-init) when below the warning threshold")
    r.add_argument("--renew", action="store_true")
    r.add_argument("--cert", help="user/robot certificate")
    r.add_argument("--key", help="its private key")
    r.add_argument("--passphrase-file", help="file holding the key's passphrase")
    r.add_argument("--valid", default="24:00", help="lifetime of a renewed proxy (HH:MM)")
    p.set_defaults(run=run)


def _default_path(environ: dict[str, str]) -> Path:
    return Path(environ.get("X509_USER_PROXY") or f"/tmp/x509up_u{os.getuid()}")  # noqa: S108


def _renew(args: argparse.Namespace, path: Path) -> str:
    """Run voms-proxy-init into a temporary file beside the proxy, then replace it atomically."""
    from probes.credentials import vomsclients

    if not (args.cert and args.key):
        raise vomsclients.VomsToolError("--renew needs --cert and --key")
    passphrase = None
    if args.passphrase_file:
        try:
            passphrase = files.read_text(args.passphrase_file, files.SECRET_LIMIT).strip()
        except files.FileProblem as exc:
            raise vomsclients.VomsToolError(f"--passphrase-file {args.passphrase_file}: "
                                            f"{exc}") from None
    with replacing(path, 0o600, prefix=".x509up-renew-") as tmp:
        vomsclients.proxy_init(str(tmp), cert=args.cert, key=args.key, vo=args.vo,
                               valid=args.valid, certdir=args.cacert,
                               passphrase=passphrase, timeout=args.timeout)
    return f"renewed at {dt.datetime.now(dt.UTC):%H:%M} UTC"


def _cross_check(verdict: ProxyVerdict, args: argparse.Namespace) -> str:
    """What voms-proxy-info says differently from our reader ("" when it agrees)."""
    from probes.credentials.vomsclients import proxy_info

    assert verdict.info is not None and verdict.proxy_left is not None
    theirs = proxy_info(verdict.path, args.cacert, timeout=args.timeout)
    differences = []
    if theirs.identity and theirs.identity != verdict.info.identity:
        differences.append(f"identity {theirs.identity}")
    if abs(theirs.timeleft - max(0, verdict.proxy_left)) > 60:
        differences.append(f"time left {theirs.timeleft}s")
    if sorted(v.vo for v in theirs.vos) != sorted(a.vo for a in verdict.info.acs):
        differences.append(f"VOs {', '.join(v.vo for v in theirs.vos) or 'none'}")
    return ("voms-proxy-info disagrees: " + "; ".join(differences)) if differences else ""


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """Check the proxy (renewing it first when asked and due); print; exit with the state."""

    from probes.checks.proxy import WARNING, Finding, judge_proxy, render
    from probes.credentials.vomsclients import VomsToolError

    path = args.file or _default_path(env.environ)
    warn, _ = nagios_ranges(NAME, "proxy", args.warning, args.critical)
    valid_timeout(NAME, "proxy", args.timeout)
    valid_files(NAME, "proxy", files.SECRET_LIMIT, file=path, cert=args.cert, key=args.key,
                passphrase_file=args.passphrase_file)
    verdict = judge_proxy(path, args.cacert, args.vo, args.fqan)
    note = ""
    if args.renew:
        lefts = [x for x in (verdict.proxy_left, verdict.ac_left) if x is not None]
        if verdict.info is None or not lefts or any(not warn.match(x) for x in lefts):
            try:
                note = _renew(args, path)
            except VomsToolError as exc:
                note = f"renewal failed: {exc}"
            verdict = judge_proxy(path, args.cacert, args.vo, args.fqan)
    if args.with_voms_proxy_info and verdict.info is not None:
        try:
            disagreement = _cross_check(verdict, args)
        except VomsToolError as exc:
            env.stdout.write(unknown_line(NAME, str(exc)))
            return ExitStatus.UNKNOWN
        if disagreement:
            verdict = replace(verdict, findings=(*verdict.findings,
                                                 Finding(WARNING, disagreement)))
    text, code = render(verdict, args.warning, args.critical, args.verbose, note)
    env.stdout.write(text)
    return ExitStatus(code)
