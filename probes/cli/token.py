"""``fedprobe token``: Nagios plugin checking an OIDC access token file — its JWT expiry read
without trusting it, time left vs -w/-c — and optionally refreshing it at the provider's token
endpoint, writing the file atomically with mode 0600 (what ARGO's separate OIDC probe does)."""

from __future__ import annotations

import argparse
from typing import Any

from probes import files
from probes.cli.env import Environment, ExitStatus
from probes.cli.plugin import (
    UsageError,
    add_nagios_options,
    add_plugin,
    nagios_ranges,
    named_path,
    valid_files,
    valid_timeout,
    valid_url,
)
from probes.credentials.token import TokenError, read_text, seconds_left
from probes.report.atomic import atomic_write

NAME = "OIDC_TOKEN"


def register(sub: Any) -> None:
    """Add the ``token`` subcommand."""
    p = add_plugin(sub, "token", NAME,
                   help="Nagios plugin: check (and optionally refresh) an OIDC access token "
                        "file",
                   description="Check an OIDC access token file's expiry; refresh it when due.")
    p.add_argument("-H", "--hostname", help="accepted for ARGO; names the service")
    p.add_argument("--file", type=named_path, required=True, help="access token file")
    add_nagios_options(p, timeout=30.0, warning="600:", critical="120:",
                       measures="seconds left")
    r = p.add_argument_group("refresh at the token endpoint when below the warning threshold")
    r.add_argument("--refresh", action="store_true")
    r.add_argument("--refresh-token-file", type=named_path)
    r.add_argument("--token-endpoint")
    r.add_argument("--client-id")
    r.add_argument("--client-secret-file", type=named_path)
    r.add_argument("--cacert", help="CA bundle or directory for the token endpoint")
    p.set_defaults(run=run)


def _refresh(args: argparse.Namespace) -> None:
    """Get a new access token and replace the file atomically, readable by its owner only."""
    from probes.auth.oidc import OidcError, exchange_refresh_token

    if not (args.refresh_token_file and args.token_endpoint and args.client_id):
        raise OidcError("--refresh needs --refresh-token-file, --token-endpoint and --client-id")
    secret = read_text(args.client_secret_file, "--client-secret-file") \
        if args.client_secret_file else None
    token = exchange_refresh_token(args.token_endpoint,
                                   read_text(args.refresh_token_file, "--refresh-token-file"),
                                   args.client_id, secret, args.cacert or True, args.timeout)
    atomic_write(args.file, token + "\n", 0o600, prefix=".token-")


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """Check the token (refreshing first when asked and due); one line; Nagios exit code."""

    from probes.auth.oidc import OidcError
    from probes.checks import token

    warn, _ = nagios_ranges(NAME, "token", args.warning, args.critical)
    valid_timeout(NAME, "token", args.timeout)
    valid_files(NAME, "token", files.SECRET_LIMIT, file=args.file,
                refresh_token_file=args.refresh_token_file,
                client_secret_file=args.client_secret_file)
    valid_url(NAME, "token", "--token-endpoint", args.token_endpoint)
    if args.cacert:
        from probes.config import cafile

        wrong = cafile.problem(args.cacert)
        if wrong:
            raise UsageError(NAME, "token", f"--cacert {args.cacert}: {wrong}")
    note, left, problem = "", None, ""
    try:
        left = seconds_left(read_text(args.file, "token file"))
    except TokenError as exc:
        problem = str(exc)
    if args.refresh and (left is None or not warn.match(left)):
        try:
            _refresh(args)
            note = " (refreshed)"
            left, problem = seconds_left(read_text(args.file, "token file")), ""
        except (OidcError, TokenError) as exc:
            note = f" (refresh failed: {exc})"
    text, state = token.render(args.file, left, problem, args.warning, args.critical, note)
    env.stdout.write(text)
    return ExitStatus(state)
