"""``fedprobe vm``: the VM lifecycle Nagios plugin. Parses options, builds the site, runs the
lifecycle under one deadline with SIGTERM/SIGINT turned into a clean stop, prints the verdict.
Only this edge prints or exits; any error becomes UNKNOWN with one line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probes.checks.nagios import unknown_line
from probes.cli import early
from probes.cli.env import Environment, ExitStatus
from probes.cli.plugin import (
    UsageError,
    add_nagios_options,
    add_plugin,
    nagios_ranges,
    named_path,
    scheduler_timeout,
    timeout_warning,
    valid_timeout,
    valid_url,
)
from probes.cli.target import add_target_options, build_site, target_flags
from probes.report.atomic import atomic_write
from probes.runner.result import PHASES, PLUGIN_NAME
from probes.runner.sweep import AGE_FLOOR

if TYPE_CHECKING:
    from probes.deadline import Deadline


def register(sub: Any) -> None:
    """Add the ``vm`` subcommand."""
    p = add_plugin(sub, "vm", PLUGIN_NAME,
                   help="Nagios plugin: boot a tiny VM, check it, always delete it",
                   description="Boot a probe VM at a site, prove its user-data ran, check its "
                               "MJF and IPv4/IPv6 reachability, time every phase, and always "
                               "delete it.")
    add_target_options(p)
    v = p.add_argument_group("the probe VM")
    v.add_argument("--image-id")
    v.add_argument("--image-name")
    v.add_argument("--image-property", action="append", metavar="KEY=VALUE")
    v.add_argument("--flavor")
    v.add_argument("--network")
    v.add_argument("--port", type=int, help="TCP port for reachability (default 22)")
    v.add_argument("--port-metadata-key", help="server metadata key that holds the port")
    v.add_argument("--icmp", action="store_true", help="also ping each address")
    v.add_argument("--monitoring-host", default=None,
                   help="name tagged on probe VMs (default: this machine's FQDN)")
    v.add_argument("--sweep-max-age", type=float,
                   help=f"seconds after which this host's untracked probe VMs are swept "
                        f"(at least {AGE_FLOOR:g}, the default)")
    v.add_argument("--report-listen", metavar="HOST:PORT",
                   help="let the guest post its report home: listen there for this run (port "
                        "0: any free one); plain HTTP, see docs/vm-probe.md")
    v.add_argument("--report-url", metavar="URL",
                   help="where the guest posts, as it reaches this machine (behind NAT: the "
                        "public address); default http://HOST:PORT of --report-listen")
    v.add_argument("--state-dir", type=named_path, metavar="DIR",
                   help="the ledger of this machine's runs (default: $FEDPROBE_STATE_DIR, "
                        "/var/lib/fedprobe if writable, else $XDG_STATE_HOME/fedprobe)")
    pol = p.add_argument_group("site policy")
    for opt in ("ipv4", "ipv6", "context", "mjf", "hygiene"):
        pol.add_argument(f"--{opt}", choices=("required", "warning", "informational", "off"))
    pol.add_argument("--mjf-keys", help="comma-separated required MJF keys")
    pol.add_argument("--console-forbidden", choices=("unknown", "warning", "critical"))
    n = p.add_argument_group("Nagios")
    add_nagios_options(n, timeout=300.0)
    n.add_argument("--scheduler-timeout", metavar="SECONDS",
                   help="the scheduler's own timeout (default: $FEDPROBE_SCHEDULER_TIMEOUT, "
                        "which the shipped check definitions set): warn when -t is not below it")
    n.add_argument("--warn-phase", action="append", default=[], metavar="PHASE=RANGE")
    n.add_argument("--crit-phase", action="append", default=[], metavar="PHASE=RANGE")
    n.add_argument("--json", type=named_path, metavar="FILE", help="also write the result as JSON")
    m = p.add_argument_group("Prometheus (one-shot)")
    m.add_argument("--textfile", type=named_path, metavar="DIR",
                   help="also write DIR/fedprobe_vm_<site>.prom for node_exporter's textfile "
                        "collector (atomically)")
    m.add_argument("--pushgateway", metavar="URL",
                   help="also push the result to this Pushgateway (job fedprobe_vm, site)")
    p.set_defaults(run=run, takes_signals=True)


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    site = target_flags(args)
    image: dict[str, Any] = {}
    if args.image_id:
        image["id"] = args.image_id
    if args.image_name:
        image["name"] = args.image_name
    if args.image_property:
        image["property"] = dict(kv.split("=", 1) for kv in args.image_property if "=" in kv)
    if image:
        site["image"] = image
    simple = {"flavor": args.flavor, "network": args.network, "port": args.port,
              "port_metadata_key": args.port_metadata_key, "sweep_max_age": args.sweep_max_age}
    site.update({k: v for k, v in simple.items() if v is not None})
    if args.icmp:
        site["icmp"] = True
    policy = {k: getattr(args, k) for k in ("ipv4", "ipv6", "context", "mjf", "hygiene",
                                            "console_forbidden") if getattr(args, k)}
    if args.mjf_keys is not None:
        policy["mjf_keys"] = [k for k in args.mjf_keys.split(",") if k]
    if policy:
        site["policy"] = policy
    return site


def _ranges(items: list[str], flag: str) -> dict[str, str]:
    from probes.config import sources

    out = {}
    for item in items:
        phase, sep, rng = item.partition("=")
        if not sep or phase not in PHASES:
            raise sources.SiteError(f"{flag} {item!r}: expected PHASE=RANGE with PHASE one of "
                                    f"{', '.join(PHASES)}")
        nagios_ranges(PLUGIN_NAME, "vm", rng)  # before any cloud is asked anything
        out[phase] = rng
    return out


def _write_json(path: Path, data: dict[str, Any]) -> None:
    atomic_write(path, json.dumps(data, indent=2))


def _valid_outputs(args: argparse.Namespace) -> None:
    """--json, --textfile and --pushgateway can be written to or asked, before any cloud is
    (a result that cannot be written is found now, not after a whole VM lifecycle)."""
    if args.json is not None:
        wrong = ("is a directory" if args.json.is_dir() else
                 "is not a regular file" if args.json.exists() and not args.json.is_file() else
                 "its directory does not exist" if not args.json.parent.is_dir() else None)
        if wrong:
            raise UsageError(PLUGIN_NAME, "vm", f"--json {args.json}: {wrong} (give a file "
                                                "name: it is replaced by each run)")
    if args.textfile is not None and not args.textfile.is_dir():
        raise UsageError(PLUGIN_NAME, "vm", f"--textfile {args.textfile}: not a directory")
    if args.report_url is not None and args.report_listen is None:
        raise UsageError(PLUGIN_NAME, "vm", "--report-url needs --report-listen (the address "
                                            "this run listens on)")
    if args.report_listen is not None:
        from probes.net import host_port
        from probes.runner.inbox import check_url

        for flag, value, check in (("--report-listen", args.report_listen, host_port),
                                   ("--report-url", args.report_url, check_url)):
            try:
                if value is not None:
                    check(value)
            except ValueError as exc:
                raise UsageError(PLUGIN_NAME, "vm", f"{flag} {exc}") from None
    if args.pushgateway is not None:  # prometheus_client reads host:port as http://host:port
        url = args.pushgateway if "://" in args.pushgateway else f"http://{args.pushgateway}"
        valid_url(PLUGIN_NAME, "vm", "--pushgateway", url)


def run(args: argparse.Namespace, env: Environment) -> ExitStatus:
    """Run the plugin; every failure path ends in a Nagios state and one clear line."""
    from probes.deadline import run_deadlines

    nagios_ranges(PLUGIN_NAME, "vm", args.warning, args.critical)
    valid_timeout(PLUGIN_NAME, "vm", args.timeout)  # no run outlives the sweep's age floor
    args.timeout_warning = timeout_warning(args.timeout, scheduler_timeout(
        PLUGIN_NAME, "vm", args.scheduler_timeout, env.environ))
    if args.monitoring_host is not None and not 0 < len(args.monitoring_host) <= 255:
        raise UsageError(PLUGIN_NAME, "vm", "--monitoring-host: must be 1 to 255 characters")
    _valid_outputs(args)
    deadline, hard = run_deadlines(args.timeout - early.started_ago())  # -t from exec

    def stop(signum: int, frame: object) -> None:
        deadline.cancel(signal.Signals(signum).name)

    old = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    came = early.take()  # a signal during start-up: stop at once (nothing was sent yet)
    if came:
        deadline.cancel(came)
    try:
        return _run(args, env, deadline, hard)
    finally:  # only now: a signal while the result is printed must not kill the plugin
        for sig, handler in old.items():
            signal.signal(sig, handler)


def _run(args: argparse.Namespace, env: Environment, deadline: Deadline,
         hard: Deadline) -> ExitStatus:
    from probes import drivers
    from probes.config import sources
    from probes.runner.custody import make as make_custody
    from probes.runner.identity import StateDirError
    from probes.runner.inbox import listener
    from probes.runner.lifecycle import LifecycleRunner
    from probes.runner.registry import vm_outcome

    try:
        site = build_site(args, env.environ, _flags(args), need_image=True)
        warn_phase = _ranges(args.warn_phase, "--warn-phase")
        crit_phase = _ranges(args.crit_phase, "--crit-phase")
        custody = make_custody("plugin", args.monitoring_host, args.state_dir, env.environ)
    except (sources.SiteError, StateDirError) as exc:
        env.stdout.write(unknown_line(PLUGIN_NAME, str(exc)))
        return ExitStatus.UNKNOWN
    try:  # the driver's code now: a package it lacks is UNKNOWN before any cloud call
        drivers.load(site.driver)
    except ImportError as exc:
        env.stdout.write(unknown_line(PLUGIN_NAME, f"driver {site.driver} cannot be loaded: "
                                                   f"{exc}"))
        return ExitStatus.UNKNOWN
    if args.verbose >= 3:
        logging.basicConfig(level=logging.DEBUG, stream=env.stderr)
    started = time.time()
    try:
        with contextlib.ExitStack() as stack:
            channel = None
            if args.report_listen is not None:
                try:
                    channel = stack.enter_context(listener(args.report_listen,
                                                           args.report_url))
                except OSError as exc:
                    env.stdout.write(unknown_line(PLUGIN_NAME, f"--report-listen "
                                                  f"{args.report_listen}: cannot listen: "
                                                  f"{exc.strerror or exc}"))
                    return ExitStatus.UNKNOWN
            runner = LifecycleRunner(site, custody, deadline, hard, drivers.create, channel)
            result = runner.run()
    except Exception as exc:  # the edge: one line, UNKNOWN (the runner already cleaned up)
        env.stdout.write(unknown_line(PLUGIN_NAME, f"internal error: {type(exc).__name__}: "
                                                   f"{str(exc)[:200]}"))
        return ExitStatus.UNKNOWN
    phase_ranges = {p: (warn_phase.get(p), crit_phase.get(p)) for p in PHASES}
    outcome = vm_outcome(result, site, deadline, args.verbose, args.warning, args.critical,
                         phase_ranges)
    text, code = outcome.text, int(outcome.state)
    if args.timeout_warning:
        text += args.timeout_warning + "\n"
    if args.json:
        try:
            _write_json(args.json, result.as_dict())
        except OSError as exc:
            text += f"(could not write --json {args.json}: {exc.strerror})\n"
    if args.textfile is not None or args.pushgateway:
        from exporters.oneshot import publish

        for problem in publish(result, site, started, args.textfile, args.pushgateway,
                               max(1.0, min(10.0, hard.left()))):
            text += f"({problem})\n"
    env.stdout.write(text)
    return ExitStatus(code)
