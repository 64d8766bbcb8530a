"""``fedprobe selftest``: a site tests itself against a federation's profile (docs/selftest.md).
Options, the live output, the verdict and the exit status (0 ready, 1 ready with warnings,
2 not ready, 3 could not test); the checks are probes.selftest's."""

from __future__ import annotations

import argparse
import signal
import time
from pathlib import Path
from typing import Any

from probes.checks.nagios import unknown_line
from probes.cli import early
from probes.cli.env import Environment, ExitStatus
from probes.cli.plugin import UsageError, add_plugin, named_path, valid_timeout
from probes.cli.target import add_target_options, build_site, target_flags

NAME = "SELFTEST"


def register(sub: Any) -> None:
    """Add the ``selftest`` subcommand."""
    from probes.selftest.profiles import PROFILES

    p = add_plugin(sub, "selftest", NAME,
                   help="test a site against a federation's profile: a verdict to act on",
                   description="Run every check a federation's profile asks for against one "
                               "site — logins, APIs, the VM lifecycle N times, "
                               "contextualisation, metadata, MJF, IPv4/IPv6, console, image "
                               "hygiene — and print each with its evidence, what to fix, and "
                               "one verdict. Exit 0 ready, 1 ready with warnings, 2 not ready, "
                               "3 could not test.")
    add_target_options(p)
    p.add_argument("--profile", choices=sorted(PROFILES), default="egi-fedcloud")
    p.add_argument("--runs", type=int, default=3, help="VM lifecycle runs (default 3)")
    p.add_argument("-t", "--timeout", type=float, default=300.0,
                   help="seconds for each lifecycle run (default 300)")
    p.add_argument("--image-name")
    p.add_argument("--image-id")
    p.add_argument("--json", type=named_path, metavar="FILE",
                   help="write the whole evidence as JSON")
    p.add_argument("--monitoring-host", help="name tagged on the VMs (default: this FQDN)")
    p.add_argument("--state-dir", type=named_path, metavar="DIR",
                   help="the ledger of this machine's runs (as fedprobe vm)")
    p.set_defaults(run=run, takes_signals=True)


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    site = target_flags(args)
    image = {k: v for k, v in (("name", args.image_name), ("id", args.image_id)) if v}
    if image:
        site["image"] = image
    return site


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """The self-test; every failure path ends in one clear line and exit 3."""
    from probes.config import sources
    from probes.runner.custody import make as make_custody
    from probes.runner.identity import StateDirError

    valid_timeout(NAME, "selftest", args.timeout)
    if not 1 <= args.runs <= 20:
        raise UsageError(NAME, "selftest", f"--runs {args.runs}: must be 1 to 20")
    if args.json is not None and not args.json.parent.is_dir():
        raise UsageError(NAME, "selftest", f"--json {args.json}: its directory does not exist")
    try:
        site = build_site(args, env.environ, _flags(args), need_image=True)
        custody = make_custody("plugin", args.monitoring_host, args.state_dir, env.environ)
    except (sources.SiteError, StateDirError) as exc:
        env.stdout.write(unknown_line(NAME, str(exc)))
        return ExitStatus.UNKNOWN
    stop: dict[str, Any] = {"deadline": None, "signal": early.take()}

    def on_signal(signum: int, frame: object) -> None:
        stop["signal"] = signal.Signals(signum).name
        if stop["deadline"] is not None:
            stop["deadline"].cancel(stop["signal"])

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        return _selftest(args, env, site, custody, stop)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _selftest(args: argparse.Namespace, env: Environment, site: Any, custody: Any,
              stop: dict[str, Any]) -> ExitStatus:
    from probes.selftest import collect, report
    from probes.selftest.model import Result, Status
    from probes.selftest.profiles import PROFILES
    from probes.selftest.render import Live, summary
    from probes.selftest.verdict import decide

    profile = PROFILES[args.profile]
    plan = collect.Plan(runs=args.runs, vm_timeout=args.timeout)
    started, t0 = time.time(), time.monotonic()
    env.stdout.write(f"fedprobe selftest: site {site.name}, {profile.label}, "
                     f"{plan.runs} lifecycle run{'s' * (plan.runs != 1)}\n")
    live = Live(env.stdout, profile)
    results: list[Result] = []

    def add(r: Result) -> None:
        results.append(r)
        live.result(r)

    live.progress("logging in, reading the catalog")
    for r in collect.fast_checks(site, profile, plan):
        add(r)
    runs = []
    if results[0].status == Status.PASS and not stop["signal"]:
        runs = collect.lifecycle_runs(site, custody, plan, live.progress, stop)
        for r in collect.lifecycle_checks(runs):
            add(r)
    else:
        why = f"interrupted by {stop['signal']}" if stop["signal"] else "no login (auth failed)"
        for check, title in collect.LIFECYCLE_CHECKS:
            add(Result(check, title, Status.COULD_NOT_RUN, why))
    for r in collect.not_checked():
        add(r)
    verdict = decide(site.name, profile, results)
    env.stdout.write(summary(results, verdict))
    if args.json is not None:
        from probes.report.atomic import atomic_write

        data = report.as_dict(site.name, report.shown(site), profile, results, runs, verdict,
                              started, time.monotonic() - t0)
        atomic_write(Path(args.json), report.dumps(data))
    return ExitStatus(verdict.code)
