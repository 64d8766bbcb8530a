"""``fedprobe keystone`` and ``fedprobe api``: cheap checks to run every minute (the checks
themselves are probes.runner.fast; this is their Nagios edge: options, one line, exit code).

keystone: time to authenticate, token lifetime left, the catalog has the required services for
the region, and each endpoint's version document answers. api: read-only calls to compute,
image and network (flavors, images, networks, limits) and the quota headroom for one tiny VM.
Each step is timed and becomes perfdata."""

from __future__ import annotations

import argparse
import math
from dataclasses import replace
from typing import Any

from probes.checks.nagios import unknown_line
from probes.cli.env import Environment, ExitStatus
from probes.cli.plugin import (
    UsageError,
    add_nagios_options,
    add_plugin,
    nagios_ranges,
    valid_timeout,
)
from probes.cli.target import add_target_options, build_site, target_flags

NAMES = {"keystone": "KEYSTONE", "api": "CLOUD_API"}


def register(sub: Any) -> None:
    """Add the ``keystone`` and ``api`` subcommands."""
    helps = {"keystone": "Nagios plugin: Keystone login time, token lifetime, catalog, versions",
             "api": "Nagios plugin: quick read-only compute/image/network calls and quota"}
    for name, text in helps.items():
        p = add_plugin(sub, name, NAMES[name], help=text, description=text)
        add_target_options(p)
        add_nagios_options(p, timeout=30.0)
        if name == "keystone":
            p.add_argument("--service", action="append", metavar="TYPE",
                           help="service type the catalog must have (default: compute, "
                                "image, network; repeat; e.g. occi)")
            p.add_argument("--token-warning", type=float, default=600.0,
                           help="warn when the new token lives fewer seconds (600)")
        p.set_defaults(run=run_keystone if name == "keystone" else run_api)


def _run(name: str, args: argparse.Namespace, env: Environment) -> ExitStatus:
    """Build the site (bad input: UNKNOWN, one line), run the check, render it."""
    from probes.config.sources import SiteError
    from probes.deadline import Deadline
    from probes.runner.fast import SERVICES
    from probes.runner.registry import CHECKS, CheckRequest, unsupported

    nagios_ranges(NAMES[name], name, args.warning, args.critical)
    valid_timeout(NAMES[name], name, args.timeout)
    if name == "keystone":
        if any(not s.strip() for s in args.service or ()):
            raise UsageError(NAMES[name], name, "--service '': give a service type "
                                                "(compute, image, network, occi, ...)")
        if not (math.isfinite(args.token_warning) and args.token_warning >= 0):
            raise UsageError(NAMES[name], name, f"--token-warning {args.token_warning:g}: "
                                                "must be a number of seconds, 0 or more")
    try:
        site = build_site(args, env.environ, target_flags(args), need_image=False)
    except SiteError as exc:
        env.stdout.write(unknown_line(NAMES[name], str(exc)))
        return ExitStatus.UNKNOWN
    wrong = unsupported(name, site)
    if wrong:
        env.stdout.write(unknown_line(NAMES[name], wrong))
        return ExitStatus.UNKNOWN
    deadline = Deadline(args.timeout)  # read-only calls: nothing to clean up afterwards
    request = CheckRequest(site, deadline, deadline, args.verbose, args.warning, args.critical)
    if name == "keystone":
        request = replace(request, services=tuple(args.service or SERVICES),
                          token_warning=args.token_warning)
    outcome = CHECKS[name].run(request)
    env.stdout.write(outcome.text)
    return ExitStatus(outcome.state)


def run_keystone(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """Login, token lifetime, catalog, version documents."""
    return _run("keystone", args, env)


def run_api(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """Flavors, images, networks, limits; quota headroom for the smallest flavor."""
    return _run("api", args, env)
